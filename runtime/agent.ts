/**
 * Agents and tools as code. Definitions live on the worker (they hold functions and zod schemas);
 * the workflow only ever sees their serialisable `AgentSpec`, fetched through an activity at the
 * start of a run, so a new agent version takes effect at a clear boundary.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AgentSpec, ToolSpec } from '../workflows/types';
import { modelPrice, type PriceTable } from './pricing';
import { approvalAuthPolicy, resolveDirectory, type DirectorySource } from './approvers';
import { waitPolicy, waitTools, type AgentWaits } from './waits';
import { delegatePolicies, delegateTools, type AgentDelegate } from './delegates';

/** Returns a reason string when the call needs a human approval, or a falsy value when it does not. */
export type ApprovalFunction<A> = (args: A) => string | false | null | undefined;
export type ApprovalPolicy<A> = 'never' | 'always' | ApprovalFunction<A>;

export interface ToolLogger {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
  error(msg: string, meta?: Record<string, unknown>): void;
}

export interface ToolContext {
  /** Workflow id of the session. */
  sessionId: string;
  /** Name of the agent running the tool (always set by the runtime; optional for tools called directly in tests). */
  agent?: string;
  /** The user the session belongs to, when it was started with one. */
  userId?: string;
  /** Sequence number of the tool message in the session transcript (one per message, not per model step). */
  seq: number;
  /** @deprecated The same number as `seq` (it never counted steps); kept so existing tools compile. Use `seq`. */
  step: number;
  /** 1 on the first run of this call; higher when Temporal retries it (a 'write' tool can tell a re-run). */
  attempt: number;
  toolCallId: string;
  /** Stable across activity retries and worker crashes: derived from session, seq and tool call. */
  idempotencyKey: string;
  /** Host path of the session's workspace (created on demand). */
  workspaceDir: string;
  /** Secrets the tool declared, resolved on the worker at run time. Never returned to the workflow. */
  secrets: Readonly<Record<string, string>>;
  logger: ToolLogger;
  heartbeat(details?: unknown): void;
  /** Aborted when the activity is cancelled (session cancelled, timeout). */
  signal: AbortSignal;
}

export interface ToolDefinition<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  input: S;
  /** Whether a human must approve a call before it runs. Default 'never'. */
  approval?: ApprovalPolicy<z.infer<S>>;
  /**
   * 'write': the tool takes effect outside the session (sends, pays, writes). The runtime runs it as a
   * regular activity, never as a local one (runAs 'local' is refused): its attempts are recorded on the
   * server, so a re-run after a crash or timeout is never blind; the tool sees `ctx.attempt > 1` and
   * dedupes its effect with `ctx.idempotencyKey`. 'none' | 'read' (default 'none'): may run locally.
   */
  effects?: 'none' | 'read' | 'write';
  /** Start-to-close timeout in milliseconds. Default 60 s. */
  timeoutMs?: number;
  /** Attempts before the error is handed back to the model. Default 3. 'write' tools stay exactly-once across
   *  retries: a recorded result is never re-run, and `ctx.idempotencyKey` lets the tool dedupe its own effect. */
  maxAttempts?: number;
  /** Names of secrets resolved on the worker (env or secrets file) and passed in `ctx.secrets`. */
  secrets?: string[];
  /** Bumped when the approval policy changes, so old approvals no longer match. */
  policyVersion?: string;
  /**
   * Where a call runs. 'local' (default for tools with timeoutMs <= 60 s and no 'write' effect): in the worker that runs the
   * session's workflow task, no server round trip. 'activity': a regular activity (long tools, tools that
   * must run on another worker pool, tools an operator wants listed as pending activities). Both are
   * exactly-once in the same way: a result recorded in the session store is never re-run.
   */
  runAs?: 'local' | 'activity';
  /** Set on the runtime's built-in tools (runtime/waits.ts, runtime/delegates.ts): the session workflow carries them out, not an activity. */
  builtin?: 'wait' | 'wait_for_event' | 'delegate';
  run(args: z.infer<S>, ctx: ToolContext): Promise<unknown> | unknown;
}

/**
 * Limits a session pauses at (`budget_exhausted`, waiting for a top-up or end). A field left out takes
 * its default from DEFAULT_BUDGET; 'unlimited' removes that limit, and only an explicit 'unlimited' does.
 */
export interface AgentBudget {
  maxSteps?: number | 'unlimited';
  maxTokens?: number | 'unlimited';
  maxCostUsd?: number | 'unlimited';
}

/**
 * Safe defaults for an agent that does not say otherwise: enough for real tasks (the demo agents use
 * 20-30 steps), small enough that a model stuck in a tool-call loop stops within minutes and a dollar.
 * The cost cap only bites when the model has a price (runtime/pricing.ts or the agent's `pricing`).
 */
export const DEFAULT_BUDGET: Readonly<{ maxSteps: number; maxCostUsd: number }> = Object.freeze({ maxSteps: 50, maxCostUsd: 1 });

/** The numeric limits in force for an agent's budget (the workflow sees only numbers; absent = unlimited). */
export function effectiveBudget(budget: AgentBudget | 'unlimited' | undefined): { maxSteps?: number; maxTokens?: number; maxCostUsd?: number } {
  if (budget === 'unlimited') return {};
  const pick = (v: number | 'unlimited' | undefined, fallback: number | undefined, name: string): number | undefined => {
    if (v === 'unlimited') return undefined;
    if (v === undefined) return fallback;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`budget.${name} must be a positive number or 'unlimited', got ${String(v)}`);
    return v;
  };
  const out = {
    maxSteps: pick(budget?.maxSteps, DEFAULT_BUDGET.maxSteps, 'maxSteps'),
    maxTokens: pick(budget?.maxTokens, undefined, 'maxTokens'),
    maxCostUsd: pick(budget?.maxCostUsd, DEFAULT_BUDGET.maxCostUsd, 'maxCostUsd'),
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

export interface AgentDefinition {
  name: string;
  /** Changing it marks a new agent version in the spec (and in the Web UI). */
  version?: string;
  instructions: string;
  /** Model name; defaults to AGENT_MODEL or 'gpt-4.1-mini'. */
  model?: string;
  tools: ToolDefinition[];
  /** Defaults to DEFAULT_BUDGET (50 steps, $1); `'unlimited'` (or a field set to it) is the explicit opt-out. */
  budget?: AgentBudget | 'unlimited';
  /** Who approves, how long they have, and who is asked next when they do not answer. Then: default deny. */
  approvals?: {
    group?: string;
    timeoutMs?: number;
    escalation?: Array<{ group: string; timeoutMs: number }>;
    /**
     * Who may decide, enforced inside the session: only members of the group currently asked (from the
     * directory), never the user who started the session (`separationOfDuties`, default true), and with
     * `requireSignature` only decisions signed by a key of the directory. Absent: any named approver.
     */
    auth?: { directory: DirectorySource; requireSignature?: boolean; separationOfDuties?: boolean };
  };
  /** USD per million tokens; defaults to MODEL_PRICES_JSON, then the built-in table (runtime/pricing.ts). A model priced nowhere stops the worker at start. */
  pricing?: { inputPerMTokUsd: number; outputPerMTokUsd: number };
  /** Chat sessions end after this long without a message. Default 24 h. */
  idleTimeoutMs?: number;
  /** Start a fresh workflow run after this many model steps (Temporal's own suggestion applies anyway). */
  continueAsNewEverySteps?: number;
  /**
   * A model call first runs as a local activity with this timeout; a call that fails retryably or takes
   * longer moves to a regular activity with backoff. 0: always a regular activity. Default 60 s.
   */
  localModelTimeoutMs?: number;
  /** Tool calls of one model turn that run at the same time; the rest wait. Default 8. */
  maxParallelToolCalls?: number;
  /**
   * Automatic memory (needs a memory store on the worker): recall the `recall` most relevant memories of
   * the user and the agent at session start; write an episode summary and facts at the end; compact older
   * turns when the model's context passes `contextBudgetTokens`.
   */
  memory?: { recall?: number; summarizeAtEnd?: boolean; contextBudgetTokens?: number; keepRecentMessages?: number };
  /**
   * This agent's approval policy for some of its tools, by tool name, replacing the tool's own: a shared
   * tool (e.g. `sandboxTools()`) can need approval in one agent and not in another. The policy version is
   * required: it goes into the approval hash, so an approval (or an approve-for-session grant) given
   * under one agent's policy never matches another's.
   */
  toolApprovals?: Record<string, ToolApprovalOverride>;
  /**
   * Built-in waits: a `wait` tool (a durable timer, "check again tomorrow") and, with `events`, a
   * `wait_for_event` tool (waits for `sendEvent(client, sessionId, name, payload)`), each wait at most
   * `maxWaitMs` (default 7 days). defineAgent adds the tools.
   */
  waits?: AgentWaits;
  /**
   * Sub-agents: agents this one may hand a task to. Each becomes a `delegate_to_<agent>` tool ({task}); a call
   * starts a child session of that agent with `budgetShare` (default 0.5) of this session's remaining budget
   * and waits for its answer. Every agent listed must be registered on the same worker. defineAgent adds the tools.
   */
  delegates?: AgentDelegate[];
}

/** An agent's own approval policy for one of its tools (see `AgentDefinition.toolApprovals`). */
export interface ToolApprovalOverride {
  /** The tool's arguments are checked by its schema before the policy sees them. */
  approval: ApprovalPolicy<Record<string, unknown>>;
  policyVersion: string;
}

/** The approval policy in force for a tool of an agent: the agent's override, else the tool's own. */
export function approvalPolicyFor(agent: AgentDefinition, tool: ToolDefinition): { policy: ApprovalPolicy<Record<string, unknown>>; policyVersion: string } {
  const override = agent.toolApprovals?.[tool.name];
  if (override) return { policy: override.approval, policyVersion: override.policyVersion };
  return { policy: (tool.approval ?? 'never') as ApprovalPolicy<Record<string, unknown>>, policyVersion: tool.policyVersion ?? '1' };
}

export function defineTool<S extends z.ZodType>(def: ToolDefinition<S>): ToolDefinition<S> {
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(def.name)) {
    throw new Error(`tool name '${def.name}' must match ^[a-zA-Z0-9_-]{1,64}$ (OpenAI function-name rules)`);
  }
  if (def.effects === 'write' && def.runAs === 'local') {
    throw new Error(`tool '${def.name}' has effects 'write' and runAs 'local': write tools run as regular activities (their retries are recorded on the server); drop runAs or the 'write' effect`);
  }
  return def;
}

export function defineAgent(input: AgentDefinition): AgentDefinition {
  effectiveBudget(input.budget); // a bad budget fails at definition, not in the middle of a session
  // The built-in wait tools join the agent's tools (once: defining a defined agent again adds nothing).
  const own = input.tools.filter((t) => !t.builtin);
  const builtins = [
    ...(input.waits ? waitTools(waitPolicy(input.name, input.waits)) : []),
    ...(input.delegates ? delegateTools(delegatePolicies(input.name, input.delegates)) : []),
  ];
  const def: AgentDefinition = input.waits || input.delegates ? { ...input, tools: [...own, ...builtins] } : input;
  const seen = new Set<string>();
  for (const t of def.tools) {
    if (seen.has(t.name)) throw new Error(`agent '${def.name}' has two tools named '${t.name}'`);
    seen.add(t.name);
  }
  for (const [name, override] of Object.entries(def.toolApprovals ?? {})) {
    if (!seen.has(name)) throw new Error(`agent '${def.name}' sets toolApprovals for '${name}', which is not one of its tools (${[...seen].join(', ')})`);
    if (typeof override.policyVersion !== 'string' || override.policyVersion.trim() === '') {
      throw new Error(`agent '${def.name}': toolApprovals.${name} needs a policyVersion (it goes into the approval hash)`);
    }
  }
  return def;
}

/** Tools with a timeout up to this run as local activities unless they say otherwise. */
export const LOCAL_TOOL_MAX_TIMEOUT_MS = 60_000;

/** A tool's spec as the model and the workflow see it (with its own approval policy). */
export function toolSpec(tool: ToolDefinition): ToolSpec {
  return toolSpecIn(tool, undefined);
}

/** A tool's spec inside an agent: the agent's approval override, when it has one, replaces the tool's policy. */
export function toolSpecIn(tool: ToolDefinition, override: ToolApprovalOverride | undefined): ToolSpec {
  const approval = override?.approval ?? tool.approval ?? 'never';
  const effects = tool.effects ?? 'none';
  const timeoutMs = tool.timeoutMs ?? 60_000;
  return {
    ...(tool.builtin ? { builtin: tool.builtin } : {}),
    name: tool.name,
    description: tool.description,
    parameters: z.toJSONSchema(tool.input, { target: 'draft-7', io: 'input' }) as Record<string, unknown>,
    approval: typeof approval === 'function' ? 'conditional' : approval,
    effects,
    timeoutMs,
    maxAttempts: tool.maxAttempts ?? 3,
    // Write tools never run locally: a local activity re-run after a crash starts over at attempt 1 with
    // no trace on the server; a regular activity's attempts are recorded and given to the tool.
    runAs: effects === 'write' ? 'activity' : (tool.runAs ?? (timeoutMs <= LOCAL_TOOL_MAX_TIMEOUT_MS ? 'local' : 'activity')),
  };
}

/**
 * The agent as the workflow sees it. Throws UnknownModelPriceError when neither the agent nor `prices`
 * (configuration; MODEL_PRICES_JSON when omitted) nor the built-in table prices its model.
 */
export function agentSpec(agent: AgentDefinition, defaultModel: string, prices?: PriceTable): AgentSpec {
  const model = agent.model ?? defaultModel;
  return {
    name: agent.name,
    version: agent.version ?? '1',
    instructions: agent.instructions,
    model,
    tools: agent.tools.map((t) => toolSpecIn(t, agent.toolApprovals?.[t.name])),
    budget: effectiveBudget(agent.budget),
    pricing: agent.pricing ?? modelPrice(model, prices, agent.name),
    approvals: {
      group: agent.approvals?.group ?? 'approvers',
      timeoutMs: agent.approvals?.timeoutMs ?? 7 * 24 * 3600_000,
      escalation: agent.approvals?.escalation ?? [],
      ...(agent.approvals?.auth
        ? {
            auth: approvalAuthPolicy(resolveDirectory(agent.approvals.auth.directory), {
              requireSignature: agent.approvals.auth.requireSignature,
              separationOfDuties: agent.approvals.auth.separationOfDuties,
            }),
          }
        : {}),
    },
    idleTimeoutMs: agent.idleTimeoutMs ?? 24 * 3600_000,
    localModelTimeoutMs: agent.localModelTimeoutMs ?? 60_000,
    maxParallelToolCalls: agent.maxParallelToolCalls ?? 8,
    ...(agent.continueAsNewEverySteps ? { continueAsNewEverySteps: agent.continueAsNewEverySteps } : {}),
    ...(agent.waits ? { waits: waitPolicy(agent.name, agent.waits) } : {}),
    ...(agent.delegates?.length ? { delegates: delegatePolicies(agent.name, agent.delegates).map(({ agent: a, tool, budgetShare }) => ({ agent: a, tool, budgetShare })) } : {}),
    ...(agent.memory
      ? {
          memory: {
            recallK: agent.memory.recall ?? 5,
            summarizeAtEnd: agent.memory.summarizeAtEnd ?? true,
            keepRecentMessages: agent.memory.keepRecentMessages ?? 6,
            ...(agent.memory.contextBudgetTokens ? { contextBudgetTokens: agent.memory.contextBudgetTokens } : {}),
          },
        }
      : {}),
  };
}

/** JSON with sorted keys: the canonical form approvals and hashes are computed over. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function approvalHash(tool: string, args: unknown, policyVersion: string): string {
  return createHash('sha256').update(`${tool}\n${canonicalJson(args)}\n${policyVersion}`).digest('hex');
}

export class AgentRegistry {
  private readonly agents = new Map<string, AgentDefinition>();
  constructor(agents: AgentDefinition[] = []) {
    agents.forEach((a) => this.register(a));
  }
  register(agent: AgentDefinition): void {
    this.agents.set(agent.name, agent);
  }
  get(name: string): AgentDefinition {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`unknown agent '${name}'; registered: ${[...this.agents.keys()].join(', ') || 'none'}`);
    return agent;
  }
  names(): string[] {
    return [...this.agents.keys()];
  }
}
