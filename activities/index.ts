/**
 * Activities of an agent session: learn the agent's spec, call the model, run a tool.
 * They are built from the worker's dependencies (agent registry, session store, model client).
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { agentSpec, approvalHash, approvalPolicyFor, type AgentDefinition, type AgentRegistry, type ToolDefinition, type ToolLogger } from '../runtime/agent';
import { checkDelegates } from '../runtime/delegates';
import type { MemoryStore } from '../memory';
import type { SessionStore, StoredMessage } from '../runtime/store';
import { parsePriceTable, UnknownModelPriceError, type PriceTable } from '../runtime/pricing';
import { TranscriptCache } from '../runtime/store/transcript-cache';
import { createForkActivities } from './fork';
import { createMemoryActivities } from './memory';
import { callProvider, withHeartbeat } from './model';
import type { ModelProvider } from '../runtime/model/provider';
import { toModelMessage } from '../runtime/model/messages';
import type { AssistantMessage, ModelMessage, ToolResultMessage } from '../workflows/model-messages';
import { SandboxUnavailableError } from '../sandbox';
import { MissingSecretError, redactDeep, redactSecrets } from '../sandbox/secrets';
import { InvalidSessionIdError } from '../runtime/session-id';
import { openSessionWorkspace, WorkspaceError } from '../runtime/workspace';
import { snapshotsFollow, type WorkspaceSnapshots } from '../runtime/workspace-snapshots';
import type { AgentSpec, CheckedToolCall, ModelTurn, RunSpec, ToolRunResult } from '../workflows/types';
import { createNotifyActivities, notifierConfigFromEnv, type NotifierConfig } from './notify';

export interface ActivityDeps {
  /** Approval notifiers (default: from NOTIFY_* environment variables). */
  notifiers?: NotifierConfig;
  registry: AgentRegistry;
  store: SessionStore;
  /** The model's wire protocol (Chat Completions, Responses, or a fake in unit tests). */
  model: ModelProvider;
  defaultModel: string;
  /** Prices from configuration (MODEL_PRICES_JSON), consulted after the agent's own `pricing`. */
  prices?: PriceTable;
  /** Whether the server has the runtime's custom search attributes (workflows upsert them only then). */
  searchAttributes: boolean;
  /** Host directory holding one workspace per session. */
  workspaceRoot: string;
  /**
   * Workspace snapshots after tool calls (runtime/workspace-snapshots.ts), so a fork restores the workspace
   * as it was at its fork point. Absent: off (a fork copies the parent's workspace as it is, and says so).
   */
  snapshots?: WorkspaceSnapshots;
  /** Tool output larger than this is cut, with a marker, before it reaches the store and the model. */
  maxToolOutputBytes?: number;
  /** Heartbeat timeout of model and tool activities: how fast work on a dead worker is retried elsewhere. */
  heartbeatTimeoutMs?: number;
  /** Resolves a tool's declared secrets on the worker. */
  resolveSecrets?: (names: string[]) => Record<string, string>;
  /** Around each tool the model call runs itself (the plugin's tracing); tools run as activities get the activity interceptor. */
  traceEagerTool?: ToolTracer;
  /** 'bubblewrap', or 'none' when the operator explicitly runs tools unsandboxed (flagged on every session). */
  sandboxMode?: string;
  /** Long-term memory (automatic recall, summaries, compaction). */
  memory?: MemoryStore;
}

export interface CallModelInput {
  sessionId: string;
  agent: string;
  model: string;
  /** Sequence number the assistant message will take. */
  seq: number;
  /**
   * Messages the workflow created since the last model call, stored before the call. Neutral
   * `ModelMessage`s; runs started before the provider seam may still carry OpenAI chat shapes.
   */
  pending: Array<{ seq: number; message: ModelMessage | Record<string, unknown>; meta?: Record<string, unknown> }>;
  /** After compaction: the model sees pinned messages, the summary, then messages from `fromSeq` on. */
  context?: { fromSeq: number; summarySeq?: number };
  /** The tools of the agent version this run started with: a redeploy mid-run never changes them mid-step. */
  toolNames?: string[];
  /**
   * Tools this call may run itself when the model asks for them and no approval is needed (the workflow names
   * its short, read-only, in-worker tools). Saves the tool's own local activity: one pass through the workflow
   * task per step instead of two. Results are stored under seq + 1 + index, where the workflow's ledger puts them.
   */
  eagerTools?: string[];
  /** Passed to eagerly run tools (their ctx.userId). */
  userId?: string;
  /** Eager tools of one turn running at the same time (the agent's maxParallelToolCalls). */
  maxParallelToolCalls?: number;
}

/** Wraps a tool run the model call does itself (eager tools), e.g. in a tracing span (workers/tracing.ts). */
export type ToolTracer = (input: RunToolInput, run: () => Promise<ToolRunResult>) => Promise<ToolRunResult>;

export interface RunToolInput {
  sessionId: string;
  agent: string;
  userId?: string;
  seq: number;
  toolCallId: string;
  name: string;
  args: unknown;
  /** Told to the model before the result (e.g. that an approver changed the arguments); stored with it. */
  resultNote?: string;
}

const PREVIEW_CHARS = 400;

export function idempotencyKey(sessionId: string, seq: number, toolCallId: string): string {
  return createHash('sha256').update(`${sessionId}\n${seq}\n${toolCallId}`).digest('hex').slice(0, 32);
}

function summarizeCall(name: string, args: unknown): string {
  if (!args || typeof args !== 'object') return `${name}(…)`;
  const parts = Object.entries(args as Record<string, unknown>)
    .slice(0, 2)
    .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const inner = parts.join(', ');
  return `${name}(${inner.length > 60 ? `${inner.slice(0, 57)}...` : inner})`;
}

export function capText(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const cut = Buffer.from(text).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  return `${cut}\n[output truncated: ${Buffer.byteLength(text)} bytes, first ${maxBytes} kept]`;
}

function findTool(agent: AgentDefinition, name: string): ToolDefinition | undefined {
  return agent.tools.find((t) => t.name === name);
}

export function checkToolCall(agent: AgentDefinition, id: string, name: string, rawArgs: string): CheckedToolCall {
  const tool = findTool(agent, name);
  if (!tool) {
    return { id, name, args: rawArgs, summary: `${name}(?)`, error: `unknown tool '${name}'; available tools: ${agent.tools.map((t) => t.name).join(', ')}` };
  }
  let json: unknown;
  try {
    json = rawArgs.trim() === '' ? {} : JSON.parse(rawArgs);
  } catch (err) {
    return { id, name, args: rawArgs, summary: `${name}(?)`, error: `arguments for '${name}' are not valid JSON: ${(err as Error).message}` };
  }
  const parsed = tool.input.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { id, name, args: json, summary: summarizeCall(name, json), error: `invalid arguments for '${name}': ${issues}` };
  }
  const args = parsed.data;
  const call: CheckedToolCall = { id, name, args, summary: summarizeCall(name, args) };
  const { policy, policyVersion } = approvalPolicyFor(agent, tool);
  let reason: string | undefined;
  if (policy === 'always') reason = `${name} always requires approval`;
  else if (typeof policy === 'function') {
    try {
      reason = policy(args as Record<string, unknown>) || undefined;
    } catch (err) {
      // A broken policy must fail closed: ask a human rather than run unchecked.
      reason = `approval policy raised an error (${(err as Error).message}); approval required`;
    }
  }
  if (reason) {
    call.approval = { reason, policyVersion, argsHash: approvalHash(name, args, policyVersion) };
  }
  return call;
}

/** Retrying cannot fix a host without a usable sandbox or workspace, a missing secret or a bad id: such errors reach the model at once. */
function nonRetryableIfHostProblem<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SandboxUnavailableError || err instanceof MissingSecretError || err instanceof WorkspaceError || err instanceof InvalidSessionIdError) {
      throw ApplicationFailure.nonRetryable(err.message, err.name);
    }
    throw err;
  }
}

/** Every secret name any tool of the agent declares. */
function agentSecretNames(agent: AgentDefinition): string[] {
  return [...new Set(agent.tools.flatMap((t) => t.secrets ?? []))];
}

/** Resolves what it can: a secret another tool is missing is that tool's error, not this one's. */
function resolveAvailable(resolve: (names: string[]) => Record<string, string>, names: string[]): Record<string, string> {
  try {
    return resolve(names);
  } catch (err) {
    if (!(err instanceof MissingSecretError)) return {};
    const rest = names.filter((n) => !err.missing.includes(n));
    try {
      return rest.length ? resolve(rest) : {};
    } catch {
      return {};
    }
  }
}

function redactingLogger(log: ToolLogger, secrets: Record<string, string>): ToolLogger {
  const wrap = (level: keyof ToolLogger) => (msg: string, meta?: Record<string, unknown>): void =>
    log[level](redactSecrets(msg, secrets), meta === undefined ? undefined : redactDeep(meta, secrets));
  return { info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}

/**
 * A tool's error as the failure that leaves the activity: message and details redacted, no cause and no
 * stack of the original (either may quote a secret). Host problems stay non-retryable; a tool's own
 * ApplicationFailure keeps its type and retry flag.
 */
function redactedFailure(err: unknown, secrets: Record<string, string>): ApplicationFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  const message = redactSecrets(e.message, secrets);
  if (e instanceof SandboxUnavailableError || e instanceof MissingSecretError || e instanceof WorkspaceError || e instanceof InvalidSessionIdError) {
    return ApplicationFailure.nonRetryable(message, e.name);
  }
  if (e instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      message,
      type: e.type ?? e.name,
      nonRetryable: e.nonRetryable ?? false,
      details: redactDeep(e.details ?? [], secrets),
    });
  }
  return ApplicationFailure.retryable(message, e.name);
}

/** What the model sees: pinned messages (instructions, recalled memories), the current summary, the recent turns. */
export function contextMessages(all: readonly StoredMessage[], context?: CallModelInput['context']): StoredMessage[] {
  if (!context) return all.filter((m) => m.meta?.kind !== 'summary');
  const pinned = all.filter((m) => m.meta?.pinned);
  const summary = all.filter((m) => m.seq === context.summarySeq);
  const recent = all.filter((m) => m.seq >= context.fromSeq && !m.meta?.pinned && m.meta?.kind !== 'summary');
  return [...pinned, ...summary, ...recent];
}

export function createActivities(deps: ActivityDeps) {
  const prices = deps.prices ?? parsePriceTable(process.env.MODEL_PRICES_JSON);
  const notifiers = deps.notifiers ?? notifierConfigFromEnv();
  // Fail closed at worker start: an agent whose model has no price would count every call as $0.
  for (const name of deps.registry.names()) agentSpec(deps.registry.get(name), deps.defaultModel, prices);
  // Every agent an agent delegates to must be here too (its children run on this task queue).
  checkDelegates(deps.registry.names().map((name) => deps.registry.get(name)));
  // JSON schemas are derived from zod once per tool set, not on every model call.
  const specs = new Map<string, AgentSpec>();
  const cachedSpec = (agent: AgentDefinition): AgentSpec => {
    const key = `${agent.name}\n${agent.tools.map((t) => t.name).join(',')}`;
    let spec = specs.get(key);
    if (!spec) specs.set(key, (spec = agentSpec(agent, deps.defaultModel, prices)));
    return spec;
  };
  const maxToolOutput = deps.maxToolOutputBytes ?? 64 * 1024;
  const transcripts = new TranscriptCache(deps.store);
  const resolveSecrets = deps.resolveSecrets ?? ((): Record<string, string> => ({}));

  const memoryActivities = createMemoryActivities({
    registry: deps.registry,
    store: deps.store,
    model: deps.model,
    defaultModel: deps.defaultModel,
    get memory(): MemoryStore {
      if (!deps.memory) throw ApplicationFailure.nonRetryable('this worker has no memory store configured', 'NoMemoryStore');
      return deps.memory;
    },
  });

  /** Whether a call of this tool is followed by a workspace snapshot (unknown agents and tools: yes). */
  const snapshotted = (agent: string, name: string): boolean => {
    try {
      const tool = findTool(deps.registry.get(agent), name);
      return !tool || snapshotsFollow(tool);
    } catch {
      return true;
    }
  };
  /**
   * Records the workspace after the call at `seq` (`touched`: the tool asked for its workspace; otherwise
   * the call is only noted as not having changed it); a failure is logged, never the tool call's failure.
   */
  const snapshotAfter = async (input: RunToolInput, touched: boolean, opts: { ifMissing?: boolean } = {}): Promise<void> => {
    if (!deps.snapshots) return;
    const log = Context.current().log;
    try {
      if (!touched) return deps.snapshots.untouched(input.sessionId, input.seq);
      const out = await withHeartbeat(deps.snapshots.record(input.sessionId, input.seq, opts));
      if (out.kind === 'failed') log.warn('workspace snapshot not taken', { sessionId: input.sessionId, seq: input.seq, reason: out.reason });
    } catch (err) {
      log.warn('workspace snapshot not recorded', { sessionId: input.sessionId, seq: input.seq, error: (err as Error).message });
    }
  };

  const forkActivities = createForkActivities({
    store: deps.store,
    workspaceRoot: deps.workspaceRoot,
    pricingOf: (agent) => cachedSpec(deps.registry.get(agent)).pricing,
    ...(deps.snapshots ? { snapshots: deps.snapshots } : {}),
    snapshotted,
  });

  return {
    ...memoryActivities,
    ...createNotifyActivities(notifiers),
    ...forkActivities,
    /** Does nothing: the bench baseline's unit of work. */
    async noop(n: number): Promise<number> {
      return n;
    },

    async describeAgent(name: string): Promise<RunSpec> {
      let agent: AgentDefinition;
      try {
        agent = deps.registry.get(name);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'UnknownAgent');
      }
      let spec: AgentSpec;
      try {
        spec = agentSpec(agent, deps.defaultModel, prices);
      } catch (err) {
        // An unpriced model (registered after start) must not run up an uncounted bill: fail, naming the fix.
        if (err instanceof UnknownModelPriceError) throw ApplicationFailure.nonRetryable(err.message, err.name);
        throw err;
      }
      return {
        ...spec,
        searchAttributes: deps.searchAttributes,
        heartbeatTimeoutMs: deps.heartbeatTimeoutMs ?? 20_000,
        sandboxMode: deps.sandboxMode ?? 'bubblewrap',
        // Sessions schedule the notifier activity only when there is somewhere to deliver to.
        notify: notifiers.webhookUrl !== undefined,
      };
    },

    /** Checks arguments an approver edited, against the same schema and policy as the model's. */
    async checkToolArgs(input: { agent: string; name: string; args: unknown }): Promise<CheckedToolCall> {
      return checkToolCall(deps.registry.get(input.agent), 'edited', input.name, JSON.stringify(input.args));
    },

    async callModel(input: CallModelInput): Promise<ModelTurn> {
      const startedAt = Date.now();
      const { store } = deps;
      await store.append(input.sessionId, input.pending);
      // A previous attempt may have completed the call and crashed before reporting: reuse its answer
      // instead of paying for (and possibly changing) the model's reply.
      const done = await store.get(input.sessionId, input.seq);
      if (done?.meta?.turn) return done.meta.turn as ModelTurn;

      const registered = deps.registry.get(input.agent);
      const agent = input.toolNames
        ? { ...registered, tools: registered.tools.filter((t) => input.toolNames!.includes(t.name)) }
        : registered;
      const spec = cachedSpec(agent);
      // Stored messages are neutral; older sessions' OpenAI-shaped ones are migrated on read.
      const context = contextMessages(await transcripts.list(input.sessionId, input.seq), input.context);
      let messages: ModelMessage[];
      try {
        messages = context.map((m) => toModelMessage(m.message));
      } catch (err) {
        // A stored message no provider can read will read the same on a retry.
        throw ApplicationFailure.nonRetryable(`session ${input.sessionId}: ${(err as Error).message}`, 'StoredMessageInvalid');
      }
      const tools = spec.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
      const reply = await callProvider(deps.model, { model: input.model, messages, tools });
      const turn: ModelTurn = {
        seq: input.seq,
        content: reply.content,
        toolCalls: reply.toolCalls.map((c) => checkToolCall(agent, c.id, c.name, c.arguments)),
        usage: reply.usage,
        model: reply.model,
      };
      const assistant: AssistantMessage = { role: 'assistant', content: reply.content, ...(reply.toolCalls.length ? { toolCalls: reply.toolCalls } : {}) };
      await store.append(input.sessionId, [{ seq: input.seq, message: assistant, meta: { turn } }]);
      const eager = await runEagerTools(input, turn, startedAt);
      return eager ? { ...turn, eager } : turn;
    },

    runTool: (input: RunToolInput): Promise<ToolRunResult> => executeTool(input),
  };

  /**
   * The eager part of a model call: the calls of this turn to tools the workflow named in `eagerTools`, valid and
   * needing no approval, run here (at most maxParallelToolCalls at a time). One that throws is left to the
   * workflow (null), which runs it as usual with its retry policy: these tools are read-only, so running one
   * again is safe, and a result stored here is never run twice (executeTool returns it).
   * A retried model call returns its stored turn without eager results: the workflow then runs every call itself.
   */
  async function runEagerTools(input: CallModelInput, turn: ModelTurn, startedAt: number): Promise<Array<ToolRunResult | null> | undefined> {
    const names = input.eagerTools;
    if (!names?.length || turn.toolCalls.length === 0) return undefined;
    const eligible = turn.toolCalls.map((c) => !c.error && !c.approval && names.includes(c.name));
    if (!eligible.some(Boolean)) return undefined;
    const results: Array<ToolRunResult | null> = turn.toolCalls.map(() => null);
    // A tool starts here only if it can end before this activity's own timeout (with a second to report);
    // the rest are left to the workflow, which gives each its own timeout.
    const deadline = startedAt + (Context.current().info.startToCloseTimeoutMs ?? Number.POSITIVE_INFINITY) - 1000;
    const timeoutOf = (name: string): number => cachedSpec(deps.registry.get(input.agent)).tools.find((t) => t.name === name)?.timeoutMs ?? Number.POSITIVE_INFINITY;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < turn.toolCalls.length) {
        const i = next++;
        if (!eligible[i]) continue;
        const call = turn.toolCalls[i];
        if (Date.now() + timeoutOf(call.name) > deadline) continue;
        const toolInput: RunToolInput = {
          sessionId: input.sessionId,
          agent: input.agent,
          ...(input.userId ? { userId: input.userId } : {}),
          seq: input.seq + 1 + i,
          toolCallId: call.id,
          name: call.name,
          args: call.args,
        };
        const run = (): Promise<ToolRunResult> => executeTool(toolInput);
        results[i] = await (deps.traceEagerTool ? deps.traceEagerTool(toolInput, run) : run()).catch(() => null);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(input.maxParallelToolCalls ?? 8, turn.toolCalls.length)) }, lane));
    return results;
  }

  async function executeTool(input: RunToolInput): Promise<ToolRunResult> {
    const { store } = deps;
    // Exactly once: a result recorded by an earlier attempt is returned, never re-run.
    const done = await store.get(input.sessionId, input.seq);
    if (done) {
      // An earlier attempt ran the tool and stored its result, and may have died before its snapshot.
      if (snapshotted(input.agent, input.name)) await snapshotAfter(input, true, { ifMissing: true });
      const content = String(done.message.content ?? '');
      return { ok: done.meta?.ok !== false, preview: content.slice(0, PREVIEW_CHARS), bytes: Buffer.byteLength(content) };
    }
    const agent = deps.registry.get(input.agent);
    const tool = findTool(agent, input.name);
    if (!tool) throw ApplicationFailure.nonRetryable(`unknown tool '${input.name}'`, 'UnknownTool');
    const parsed = tool.input.safeParse(input.args);
    if (!parsed.success) {
      throw ApplicationFailure.nonRetryable(`invalid arguments for '${input.name}': ${parsed.error.message}`, 'InvalidToolArguments');
    }
    const actx = Context.current();
    // Opened when the tool first reads ctx.workspaceDir: most in-process tools never do, and opening it checks
    // the root and the folder with half a dozen syscalls on every call.
    let workspaceDir: string | undefined;
    const workspace = (): string => (workspaceDir ??= nonRetryableIfHostProblem(() => openSessionWorkspace(deps.workspaceRoot, input.sessionId).dir));
    const secrets = nonRetryableIfHostProblem(() => resolveSecrets(tool.secrets ?? []));
    // Redaction covers every secret any tool of this agent resolves, not only this tool's: a value one
    // tool wrote to the workspace can come back through another (read_file, a later shell call).
    const redactWith = { ...resolveAvailable(resolveSecrets, agentSecretNames(agent)), ...secrets };
    const redact = (text: string): string => redactSecrets(text, redactWith);
    const snapshot = deps.snapshots !== undefined && snapshotsFollow(tool);
    const result = await withHeartbeat(
      Promise.resolve().then(() => tool.run(parsed.data, {
          sessionId: input.sessionId,
          agent: input.agent,
          ...(input.userId ? { userId: input.userId } : {}),
          seq: input.seq,
          step: input.seq,
          attempt: actx.info.attempt,
          toolCallId: input.toolCallId,
          idempotencyKey: idempotencyKey(input.sessionId, input.seq, input.toolCallId),
          get workspaceDir(): string {
            return workspace();
          },
          secrets,
          // Logs and heartbeat details leave the activity too (worker log, Temporal server): redacted.
          logger: redactingLogger(actx.log, redactWith),
          heartbeat: (d?: unknown) => actx.heartbeat(redactDeep(d, redactWith)),
          signal: actx.cancellationSignal,
        })),
    ).catch((err: unknown) => {
      // Cancellation must stay cancellation (the SDK recognises CancelledFailure/AbortError once the
      // signal is aborted); their messages come from the SDK or the abort, not from the tool's data.
      if (actx.cancellationSignal.aborted && (err instanceof CancelledFailure || (err instanceof Error && err.name === 'AbortError'))) throw err;
      // The error message becomes a failure in history, the transcript and the next model request.
      throw redactedFailure(err, redactWith);
    }).finally(async () => {
      // After every attempt, failed ones too (a tool may change the workspace and then throw); the last
      // attempt's snapshot is the one a fork gets. Not for a cancelled call: nothing waits for it. A call
      // that never asked for ctx.workspaceDir did not change the workspace: it gets a log line, no walk.
      if (snapshot && !actx.cancellationSignal.aborted) await snapshotAfter(input, workspaceDir !== undefined);
    });
    // Strings first (they are whole there: no JSON escapes splitting a blob), then the JSON text.
    const clean = redactDeep(result ?? null, redactWith);
    let text = typeof clean === 'string' ? clean : JSON.stringify(clean);
    text = capText(redact(text), maxToolOutput);
    if (input.resultNote) text = `${input.resultNote}\n${text}`;
    await store.append(input.sessionId, [
      { seq: input.seq, message: { role: 'tool', toolCallId: input.toolCallId, content: text } satisfies ToolResultMessage, meta: { ok: true, tool: input.name } },
    ]);
    return { ok: true, preview: text.slice(0, PREVIEW_CHARS), bytes: Buffer.byteLength(text) };
  }
}
