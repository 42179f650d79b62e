/**
 * One agent session = one workflow. The model call and each tool call are activities; the loop
 * pauses on approvals, on an exhausted budget and (chat mode) between user messages. All of it is
 * durable: worker crashes, deploys and server restarts do not lose a session.
 *
 * History stays linear in the transcript: messages live in the session store, written by
 * activities keyed by (session, seq). The workflow passes only the messages it created itself
 * (user input, error and rejection notes) and sequence numbers; activities return short previews.
 *
 * The step shape (patch `local-steps-v1`): the model call and short tools run as local activities in
 * the worker that runs the workflow task, so a step costs no extra workflow task or server round trip.
 * What makes that safe is the session store, not the activity type: a model turn and a tool result are
 * stored under their seq before the activity returns, and a re-run after a crash returns the stored
 * result instead of calling the model or the tool again (README, "Durability of a step"). Sessions
 * started before the patch keep the old shape (every call a regular activity) until they continue as new.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import type { LocalActivityOptions } from '@temporalio/common';
import type * as activities from '../activities';
import {
  type ApprovalDecision,
  approvalSignal,
  decideApprovalUpdate,
  type EndRequest,
  endSignal,
  sendMessageUpdate,
  stateQuery,
  topUpBudgetUpdate,
} from './messages';
import { LIMITS } from './limits';
import { bounded, checkApprovalDecision, checkBudgetTopUp, checkChatMessage, checkEndRequest } from './validate';
import { pageTranscript } from './transcript';
import { sessionIdProblem } from './session-id';
import type {
  ApprovalRecord,
  Budget,
  CarriedState,
  ChatMessageIn,
  ChatReply,
  CheckedToolCall,
  RunSpec,
  SessionInput,
  SessionResult,
  SessionState,
  SessionStatus,
  TranscriptEntry,
} from './types';

type Activities = ReturnType<typeof activities.createActivities>;
type PendingMessage = { seq: number; message: Record<string, unknown>; meta?: Record<string, unknown> };

export const SessionStatusKey = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
export const AgentNameKey = defineSearchAttributeKey('AgentName', SearchAttributeType.KEYWORD);
export const PendingApprovalsKey = defineSearchAttributeKey('PendingApprovals', SearchAttributeType.INT);
export const TokensUsedKey = defineSearchAttributeKey('TokensUsed', SearchAttributeType.INT);
export const CostUsdKey = defineSearchAttributeKey('CostUsd', SearchAttributeType.DOUBLE);
export const UserIdKey = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);
export const SandboxModeKey = defineSearchAttributeKey('SandboxMode', SearchAttributeType.KEYWORD);

const { describeAgent, checkToolArgs, recallMemories } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
// The same bookkeeping as local activities (new step shape): pure reads of the worker's registry.
const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
// Summaries and compaction are model calls: same retry policy as the agent's own model calls.
const { summarizeSession, compactContext } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});
// Rate limits, 5xx and timeouts are retried with backoff (the openai client's own retries are off, so
// every attempt is visible in history); auth and bad-request errors are non-retryable.
const MODEL_ACTIVITY = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
const { callModel } = proxyActivities<Activities>(MODEL_ACTIVITY);
/** Patch id of the step shape with local model and tool calls (see the header). */
export const LOCAL_STEPS_PATCH = 'local-steps-v1';
/** Patch id: an approval request also schedules the notifier activity (sessions started before it do not). */
export const APPROVAL_NOTIFY_PATCH = 'approval-notify-v1';
// Webhooks may be down for a while: retried with backoff for about a quarter of an hour, then given up (logged).
const NOTIFY_ACTIVITY = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 12 },
} as const;
const { notifyApproval } = proxyActivities<Activities>(NOTIFY_ACTIVITY);
// Per-tool timeouts and retries are given at each call (executeWithOptions), from the agent's spec.
const { runTool } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

const TRANSCRIPT_KEPT_ON_CONTINUE = 200;
const MAX_QUEUED_MESSAGES = 20;

/**
 * The failure of an activity call: regular activities wrap it in an ActivityFailure, local activities
 * reject with the failure itself (an ApplicationFailure or a TimeoutFailure). Undefined for anything else.
 */
function activityError(err: unknown): Error | undefined {
  if (err instanceof ActivityFailure) return err.cause instanceof Error ? err.cause : err;
  if (err instanceof ApplicationFailure || err instanceof TimeoutFailure) return err;
  return undefined;
}

/** Runs the tasks with at most `limit` in flight, in order (deterministic: driven by workflow events only). */
async function inParallel(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
}

/** Thrown inside the loop when an `end` signal stops the session between steps. */
class SessionEnded extends Error {}

export async function agentSession(input: SessionInput): Promise<SessionResult> {
  const info = workflowInfo();
  const sessionId = info.workflowId;
  // Decided once per run: a run keeps one step shape for its whole life (replay of older runs stays exact).
  const localSteps = patched(LOCAL_STEPS_PATCH);
  // Started on Temporal directly with an id no client would accept: refuse before anything runs (the id
  // names the session's store entries and workspace).
  const badId = sessionIdProblem(sessionId);
  if (badId) throw ApplicationFailure.nonRetryable(`invalid session id: ${badId}`, 'InvalidSessionId');
  const mode = input.mode ?? 'task';
  const carry: CarriedState | undefined = input.carry;
  const state: SessionState = carry?.state ?? {
    sessionId,
    agent: input.agent,
    mode,
    ...(input.userId ? { userId: input.userId } : {}),
    status: 'running',
    steps: 0,
    usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    costUsd: 0,
    budget: {},
    topUps: [],
    run: 1,
    transcriptFrom: 0,
    pendingApprovals: [],
    approvals: [],
    transcript: [],
    rejectedMessages: [],
  };
  if (carry) state.run += 1;
  const approvals = new Map<string, ApprovalRecord>(state.approvals.map((a) => [a.approvalId, a]));
  const inbox: ChatMessageIn[] = carry?.inbox ?? [];
  const replies = new Map<string, ChatReply>();
  const topUps: Budget = carry?.topUps ?? {};
  let nextSeq = carry?.nextSeq ?? 0;
  const pending: PendingMessage[] = carry?.pending ?? [];
  let context = carry?.context;
  let lastPromptTokens = carry?.lastPromptTokens ?? 0;
  let currentMessageId: string | undefined;
  let endRequested: EndRequest | undefined;
  let spec: RunSpec | undefined;

  // ---- status, Web UI details, search attributes -------------------------------------------------
  /**
   * What search attributes and memo last said (new step shape only): unchanged values are not sent
   * again; `once` holds the attributes set at the start of a session, sent with the first status.
   */
  const published: { status?: SessionStatus; pending: number; memo: string; once: SearchAttributeUpdatePair[] } = {
    pending: 0,
    memo: '',
    once: [],
  };
  /** Recomputes the visible status: state query, Web UI current details, search attributes. */
  const publish = (status?: SessionStatus): void => {
    const open = [...approvals.values()].filter((a) => a.status === 'pending');
    state.pendingApprovals = open;
    state.approvals = [...approvals.values()];
    if (status) state.status = status;
    else if (state.status === 'running' || state.status === 'awaiting_approval') {
      state.status = open.length > 0 ? 'awaiting_approval' : 'running';
    }
    const details: Record<SessionStatus, string> = {
      awaiting_approval: `Waiting for approval: ${open.map((a) => `${a.tool} from ${a.approverGroup} until ${a.deadline} (${a.reason})`).join('; ')}`,
      awaiting_input: 'Waiting for the next user message',
      budget_exhausted: `Paused: budget exhausted (${state.budgetExhausted}); waiting for a top-up or end`,
      running: `Running: ${state.steps} model steps, ${state.usage.totalTokens} tokens, $${state.costUsd.toFixed(4)}`,
      completed: `Completed${state.endReason ? ` (${state.endReason})` : ''}`,
      failed: `Failed: ${state.error ?? ''}`,
      cancelled: 'Cancelled',
    };
    setCurrentDetails(details[state.status]);
    if (!localSteps) {
      if (spec?.searchAttributes) {
        upsertSearchAttributes([
          { key: SessionStatusKey, value: state.status },
          { key: PendingApprovalsKey, value: open.length },
          { key: TokensUsedKey, value: state.usage.totalTokens },
          { key: CostUsdKey, value: state.costUsd },
        ]);
      }
      return;
    }
    // Each upsert is a command and a history event: send only what changed, and usage only when the
    // status changes (operators filter on status; token and cost figures need not be live per step).
    if (spec?.searchAttributes && state.status !== published.status) {
      upsertSearchAttributes([
        ...published.once.splice(0),
        { key: SessionStatusKey, value: state.status },
        { key: PendingApprovalsKey, value: open.length },
        { key: TokensUsedKey, value: state.usage.totalTokens },
        { key: CostUsdKey, value: state.costUsd },
      ]);
      published.status = state.status;
      published.pending = open.length;
    } else if (spec?.searchAttributes && open.length !== published.pending) {
      upsertSearchAttributes([{ key: PendingApprovalsKey, value: open.length }]);
      published.pending = open.length;
    }
    // What waits on whom, readable by clients without a worker (describe / list return the memo): an
    // approver can decide a session whose worker just died without waiting for a query to be answered.
    const memo = open.map((a) => `${a.approvalId} ${a.tool} ${a.approverGroup} ${a.argsHash} ${a.deadline}`).join('\n');
    if (memo !== published.memo) {
      upsertMemo({ pendingApprovals: open.length ? open.map((a) => ({ approvalId: a.approvalId, tool: a.tool, approverGroup: a.approverGroup, argsHash: a.argsHash, deadline: a.deadline })) : null });
      published.memo = memo;
    }
  };

  // ---- message handlers ---------------------------------------------------------------------------
  const closed = (): boolean => ['completed', 'failed', 'cancelled'].includes(state.status);

  /** Why a decision cannot apply, or undefined when it can. */
  const checkDecision = (raw: unknown): string | undefined => {
    const parsed = checkApprovalDecision(raw);
    if (!parsed.ok) return `malformed approval: ${parsed.problem}`;
    const d = parsed.value;
    const record = approvals.get(d.approvalId);
    if (!record) return `unknown approvalId '${d.approvalId}'`;
    if (record.status !== 'pending') return `approval '${record.approvalId}' is already ${record.status}`;
    if (d.argsHash !== undefined && d.argsHash !== record.argsHash) {
      return `argsHash does not match approval '${record.approvalId}': the decision was made about other arguments (or another policy version)`;
    }
    return undefined;
  };

  const applyDecision = async (decision: ApprovalDecision): Promise<ApprovalRecord> => {
    const record = approvals.get(decision.approvalId)!;
    if (decision.editedArgs !== undefined) {
      const toolArgs = { agent: state.agent, name: record.tool, args: decision.editedArgs };
      const checked = localSteps ? await local.checkToolArgs(toolArgs) : await checkToolArgs(toolArgs);
      if (checked.error) throw ApplicationFailure.nonRetryable(`edited arguments refused: ${checked.error}`, 'InvalidEditedArguments');
      // Another decision may have landed while the arguments were being checked.
      if (record.status !== 'pending') throw ApplicationFailure.nonRetryable(`approval '${record.approvalId}' is already ${record.status}`);
      record.originalArgs = record.args;
      record.args = checked.args;
    }
    record.status = decision.decision === 'approve' ? 'approved' : 'rejected';
    record.approver = decision.approver.trim();
    if (decision.comment !== undefined) record.comment = decision.comment;
    record.decidedAt = new Date().toISOString();
    publish();
    return record;
  };

  const rejectMessage = (problem: string): void => {
    // A signal cannot answer its sender; keep the reason where operators look (state query, logs).
    const reason = bounded(problem, LIMITS.rejectionReasonChars);
    state.rejectedMessages.push({ at: new Date().toISOString(), reason });
    if (state.rejectedMessages.length > 50) state.rejectedMessages.shift();
    log.warn('message ignored', { reason });
  };

  setHandler(stateQuery, (opts) => ({ ...state, ...pageTranscript(state.transcript, opts) }));
  // No handler may fail a workflow task: everything a caller sends is checked first, and any error
  // while applying it is caught and recorded (signals) or returned to the caller (Updates).
  setHandler(approvalSignal, async (raw) => {
    try {
      const problem = checkDecision(raw);
      if (problem) return rejectMessage(problem);
      await applyDecision(raw);
    } catch (err) {
      if (isCancellation(err)) throw err;
      rejectMessage(err instanceof Error ? err.message : String(err));
    }
  });
  setHandler(
    decideApprovalUpdate,
    async (decision) => {
      try {
        return await applyDecision(decision);
      } catch (err) {
        if (err instanceof ApplicationFailure || isCancellation(err)) throw err;
        throw ApplicationFailure.nonRetryable(err instanceof Error ? err.message : String(err), 'DecisionNotApplied');
      }
    },
    {
      validator: (raw) => {
        const problem = checkDecision(raw);
        if (problem) throw new Error(problem);
      },
    },
  );
  setHandler(
    sendMessageUpdate,
    async (msg): Promise<ChatReply> => {
      const id = uuid4();
      inbox.push({ id, text: msg.text });
      await condition(
        () => replies.has(id) || closed() || (currentMessageId === id && (state.status === 'awaiting_approval' || state.status === 'budget_exhausted')),
      );
      return replies.get(id) ?? { messageId: id, status: state.status, pendingApprovals: state.pendingApprovals };
    },
    {
      validator: (raw) => {
        const parsed = checkChatMessage(raw);
        if (!parsed.ok) throw new Error(`malformed message: ${parsed.problem}`);
        if (mode !== 'chat') throw new Error('this session is in task mode; start a chat session to send messages');
        if (closed() || endRequested) throw new Error(`session is ${endRequested ? 'ending' : state.status}`);
        if (inbox.length >= MAX_QUEUED_MESSAGES) throw new Error(`too many queued messages (${inbox.length}); wait for replies`);
      },
    },
  );
  setHandler(topUpBudgetUpdate, (t) => {
    const add: Budget = {
      ...(t.addSteps ? { maxSteps: t.addSteps } : {}),
      ...(t.addTokens ? { maxTokens: t.addTokens } : {}),
      ...(t.addCostUsd ? { maxCostUsd: t.addCostUsd } : {}),
    };
    topUps.maxSteps = (topUps.maxSteps ?? 0) + (add.maxSteps ?? 0);
    topUps.maxTokens = (topUps.maxTokens ?? 0) + (add.maxTokens ?? 0);
    topUps.maxCostUsd = (topUps.maxCostUsd ?? 0) + (add.maxCostUsd ?? 0);
    state.topUps.push({ at: new Date().toISOString(), approver: t.approver.trim(), add, ...(t.comment ? { comment: t.comment } : {}) });
    if (state.topUps.length > 50) state.topUps.shift();
    refreshBudget();
    return state.budget;
  }, {
    validator: (raw) => {
      const parsed = checkBudgetTopUp(raw);
      if (!parsed.ok) throw new Error(`malformed top-up: ${parsed.problem}`);
      if (closed()) throw new Error(`session is ${state.status}`);
    },
  });
  setHandler(endSignal, (raw) => {
    const parsed = checkEndRequest(raw);
    if (!parsed.ok) return rejectMessage(`malformed end request: ${parsed.problem}`);
    endRequested = parsed.value;
  });

  // ---- budget -----------------------------------------------------------------------------------------
  const refreshBudget = (): void => {
    const base = spec?.budget ?? {};
    const sum = (a?: number, b?: number): number | undefined => (a === undefined ? undefined : a + (b ?? 0));
    state.budget = {
      ...(base.maxSteps !== undefined ? { maxSteps: sum(base.maxSteps, topUps.maxSteps) } : {}),
      ...(base.maxTokens !== undefined ? { maxTokens: sum(base.maxTokens, topUps.maxTokens) } : {}),
      ...(base.maxCostUsd !== undefined ? { maxCostUsd: sum(base.maxCostUsd, topUps.maxCostUsd) } : {}),
    };
  };
  const budgetProblem = (): string | undefined => {
    const b = state.budget;
    if (b.maxSteps !== undefined && state.steps >= b.maxSteps) return `maxSteps ${b.maxSteps} reached`;
    if (b.maxTokens !== undefined && state.usage.totalTokens >= b.maxTokens) return `maxTokens ${b.maxTokens} reached (${state.usage.totalTokens} used)`;
    if (b.maxCostUsd !== undefined && state.costUsd >= b.maxCostUsd) return `maxCostUsd ${b.maxCostUsd} reached ($${state.costUsd.toFixed(4)} spent)`;
    return undefined;
  };
  /** Pauses (does not fail) until a top-up makes room or the session is ended. */
  const ensureBudget = async (): Promise<void> => {
    let problem = budgetProblem();
    while (problem) {
      state.budgetExhausted = problem;
      publish('budget_exhausted');
      await condition(() => endRequested !== undefined || budgetProblem() !== problem);
      if (endRequested) throw new SessionEnded();
      problem = budgetProblem();
    }
    if (state.status === 'budget_exhausted') {
      delete state.budgetExhausted;
      publish('running');
    }
  };

  // ---- transcript -------------------------------------------------------------------------------------
  const addMessage = (message: Record<string, unknown>, entry: Omit<TranscriptEntry, 'seq'>, meta?: Record<string, unknown>): number => {
    const seq = nextSeq++;
    pending.push({ seq, message, ...(meta ? { meta } : {}) });
    state.transcript.push({ seq, ...entry });
    return seq;
  };

  // ---- one tool call ----------------------------------------------------------------------------------
  const awaitApproval = async (call: CheckedToolCall, seq: number): Promise<ApprovalRecord> => {
    const routing = spec!.approvals;
    const requestedAt = new Date();
    const record: ApprovalRecord = {
      approvalId: `${sessionId}/${seq}`,
      seq,
      toolCallId: call.id,
      tool: call.name,
      args: call.args,
      argsHash: call.approval!.argsHash,
      policyVersion: call.approval!.policyVersion,
      reason: call.approval!.reason,
      requestedAt: requestedAt.toISOString(),
      deadline: new Date(requestedAt.getTime() + routing.timeoutMs).toISOString(),
      approverGroup: routing.group,
      escalations: [],
      status: 'pending',
    };
    approvals.set(record.approvalId, record);
    publish();
    if (patched(APPROVAL_NOTIFY_PATCH)) {
      // Not awaited: the approval never waits for a notification; one that fails for good is only logged.
      notifyApproval
        .executeWithOptions({ ...NOTIFY_ACTIVITY, summary: `notify ${routing.group} of ${call.summary}` }, [
          { sessionId, approvalId: record.approvalId, agent: state.agent, tool: record.tool, args: record.args, argsHash: record.argsHash, reason: record.reason, approverGroup: record.approverGroup, deadline: record.deadline, ...(state.userId ? { userId: state.userId } : {}) },
        ])
        .catch((err) => log.warn('approval notification not delivered', { approvalId: record.approvalId, error: String(err) }));
    }
    const levels = [{ group: routing.group, timeoutMs: routing.timeoutMs }, ...routing.escalation];
    for (let level = 0; level < levels.length; level++) {
      const { group, timeoutMs } = levels[level];
      if (level > 0) {
        // Escalation: the same request goes to the next group with a fresh deadline (visible as its own timer).
        record.escalations.push({ at: new Date().toISOString(), from: record.approverGroup, to: group });
        record.approverGroup = group;
        record.deadline = new Date(Date.now() + timeoutMs).toISOString();
        publish();
      }
      const decided = await condition(() => record.status !== 'pending' || endRequested !== undefined, timeoutMs, {
        summary: `approval deadline (${group}) for ${call.summary}`,
      });
      if (decided) break;
    }
    if (record.status === 'pending') {
      record.status = endRequested ? 'withdrawn' : 'expired';
      record.decidedAt = new Date().toISOString();
    }
    publish();
    return record;
  };

  const runToolCall = async (call: CheckedToolCall, seq: number): Promise<void> => {
    const note = (text: string, extra: Partial<TranscriptEntry> = {}): void => {
      pending.push({ seq, message: { role: 'tool', tool_call_id: call.id, content: text } });
      state.transcript.push({ seq, role: 'tool', toolCallId: call.id, tool: call.name, text, ok: false, ...extra });
    };
    if (call.error) return note(`Error: ${call.error}`);

    let args = call.args;
    let approvalEntry: TranscriptEntry['approval'];
    if (call.approval) {
      const record = await awaitApproval(call, seq);
      approvalEntry = {
        status: record.status,
        ...(record.approver ? { approver: record.approver } : {}),
        ...(record.comment ? { comment: record.comment } : {}),
        ...(record.originalArgs !== undefined ? { edited: true } : {}),
      };
      if (record.status !== 'approved') {
        const who = record.approver ? ` by ${record.approver}` : '';
        const why = record.comment ? `: ${record.comment}` : '';
        const text = {
          expired: `The call was not run: no decision by ${record.deadline} after asking ${[spec!.approvals.group, ...record.escalations.map((e) => e.to)].join(', then ')} (default deny).`,
          rejected: `The call was not run: rejected${who}${why}.`,
          withdrawn: 'The call was not run: the session was ended before a decision.',
        }[record.status as 'expired' | 'rejected' | 'withdrawn'];
        return note(text, { approval: approvalEntry });
      }
      args = record.args;
    }

    const tool = spec!.tools.find((t) => t.name === call.name);
    if (!tool) return note(`Error: tool '${call.name}' is not part of this agent version`, approvalEntry ? { approval: approvalEntry } : {});
    try {
      const options: LocalActivityOptions = {
        startToCloseTimeout: tool.timeoutMs,
        retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: tool.maxAttempts },
        // Cancelling the session waits until the tool has really stopped (its processes killed).
        cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary: `tool ${call.summary}${approvalEntry ? ` (approved by ${approvalEntry.approver})` : ''}`,
      };
      const toolInput = { sessionId, agent: state.agent, ...(state.userId ? { userId: state.userId } : {}), seq, toolCallId: call.id, name: call.name, args };
      // Short tools run in this worker (no round trip); long ones as regular activities, where a
      // heartbeat timeout notices a dead worker and the workflow task is not held for the duration.
      const result =
        localSteps && tool.runAs === 'local'
          ? await local.runTool.executeWithOptions(options, [toolInput])
          : await runTool.executeWithOptions({ ...options, heartbeatTimeout: Math.min(tool.timeoutMs, spec!.heartbeatTimeoutMs) }, [toolInput]);
      state.transcript.push({
        seq,
        role: 'tool',
        toolCallId: call.id,
        tool: call.name,
        text: result.preview,
        ok: result.ok,
        ...(approvalEntry ? { approval: approvalEntry } : {}),
      });
    } catch (err) {
      const failure = activityError(err);
      if (!failure || isCancellation(err)) throw err;
      note(`Error: tool '${call.name}' failed: ${failure.message}`, approvalEntry ? { approval: approvalEntry } : {});
    }
  };

  const addUsage = (usage: { promptTokens: number; completionTokens: number; totalTokens: number }): void => {
    state.usage.promptTokens += usage.promptTokens;
    state.usage.completionTokens += usage.completionTokens;
    state.usage.totalTokens += usage.totalTokens;
    state.costUsd += (usage.promptTokens * spec!.pricing.inputPerMTokUsd + usage.completionTokens * spec!.pricing.outputPerMTokUsd) / 1_000_000;
  };

  // ---- automatic memory ------------------------------------------------------------------------------
  const memoryState = (): NonNullable<SessionState['memory']> => (state.memory ??= { recalled: [], compactions: 0 });

  /** Automatic memory helps a session but must never end it: a failure is recorded and the session goes on. */
  const memoryOptional = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      if (isCancellation(err)) throw err;
      const reason = activityError(err)?.message ?? String(err);
      memoryState().errors = [...(memoryState().errors ?? []), `${what}: ${reason}`];
      log.warn(`automatic memory (${what}) failed; the session goes on`, { reason });
      return undefined;
    }
  };

  /** The memories most relevant to the first request, pinned into the model's context and shown in the transcript. */
  const recallAtStart = async (query: string): Promise<void> => {
    if (!spec!.memory || spec!.memory.recallK <= 0) return;
    const recalled = await memoryOptional('recall', () =>
      recallMemories.executeWithOptions(
        { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 }, summary: `recall memories for ${state.userId ?? spec!.name}` },
        [{ agent: spec!.name, ...(state.userId ? { userId: state.userId } : {}), query, k: spec!.memory!.recallK }],
      ),
    );
    if (!recalled) return;
    memoryState().recalled = recalled.memories.map((m) => m.id);
    if (recalled.text) addMessage({ role: 'system', content: recalled.text }, { role: 'system', text: recalled.text, kind: 'memory' }, { pinned: true });
  };

  /** When the last call's context passed the budget, older turns are summarised and the summary stands in for them. */
  const compactIfNeeded = async (): Promise<void> => {
    const budget = spec!.memory?.contextBudgetTokens;
    if (!budget || lastPromptTokens < budget * 0.8) return;
    const summarySeq = nextSeq++;
    // Messages the workflow created since the last call are stored with the compaction, so the summary sees them.
    const flushed = pending.splice(0);
    let result: Awaited<ReturnType<Activities['compactContext']>>;
    try {
      result = await compactContext.executeWithOptions(
        {
          startToCloseTimeout: '5 minutes',
          retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
          summary: `compact context (${lastPromptTokens} tokens > ${Math.round(budget * 0.8)})`,
        },
        [
          {
            sessionId,
            runId: workflowInfo().runId,
            agent: spec!.name,
            model: spec!.model,
            contextFrom: context?.fromSeq ?? 0,
            beforeSeq: summarySeq,
            summarySeq,
            ...(context?.summarySeq !== undefined ? { previousSummarySeq: context.summarySeq } : {}),
            keepRecent: spec!.memory!.keepRecentMessages,
            pending: flushed,
          },
        ],
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      // A failed compaction must not end the session: carry on with the full context (the next call may still fit).
      pending.unshift(...flushed);
      log.warn('context compaction failed; continuing without it', { error: String(err) });
      lastPromptTokens = 0;
      return;
    }
    lastPromptTokens = 0;
    if (!result) return;
    addUsage(result.usage);
    context = { fromSeq: result.contextFrom, summarySeq: result.summarySeq };
    memoryState().compactions += 1;
    state.transcript.push({ seq: summarySeq, role: 'system', text: result.preview, kind: 'summary' });
  };

  /** End of session: an episode summary and extracted facts, with provenance, for later sessions. */
  const summarizeAtEnd = async (): Promise<void> => {
    const run = spec;
    if (!run?.memory?.summarizeAtEnd || state.steps === 0) return;
    const result = await memoryOptional('episode summary', () =>
      summarizeSession.executeWithOptions(
        {
          startToCloseTimeout: '5 minutes',
          retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
          summary: `summarise session into memory (${state.userId ? `user/${state.userId}` : `agent/${run.name}`})`,
        },
        [{ sessionId, runId: workflowInfo().runId, agent: run.name, ...(state.userId ? { userId: state.userId } : {}), step: nextSeq, model: run.model }],
      ),
    );
    if (!result) return;
    addUsage(result.usage);
    Object.assign(memoryState(), { episodeId: result.episodeId, factIds: result.factIds });
  };

  // ---- one model call ----------------------------------------------------------------------------------
  /**
   * New step shape: one attempt as a local activity (no server round trip); if it fails in a way a retry
   * may fix (5xx, 429, timeout), the call moves to a regular activity with backoff, so long retries never
   * hold the workflow task. Both attempts use the same seq: a turn the first one stored is reused, never
   * paid for twice. Non-retryable answers (auth, bad request) fail at once, as before.
   */
  const modelCall = async (args: Parameters<Activities['callModel']>[0], summary: string): Promise<Awaited<ReturnType<Activities['callModel']>>> => {
    const regular = (label: string) => callModel.executeWithOptions({ ...MODEL_ACTIVITY, heartbeatTimeout: spec!.heartbeatTimeoutMs, summary: label }, [args]);
    if (!localSteps || !spec!.localModelTimeoutMs) return regular(summary);
    try {
      return await local.callModel.executeWithOptions(
        { startToCloseTimeout: spec!.localModelTimeoutMs, retry: { maximumAttempts: 1 }, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, summary },
        [args],
      );
    } catch (err) {
      const failure = activityError(err);
      if (isCancellation(err) || !failure || (failure instanceof ApplicationFailure && failure.nonRetryable)) throw err;
      return regular(`${summary}, retried as an activity`);
    }
  };

  // ---- one model turn until the assistant answers without tool calls -----------------------------------
  const runUntilAnswer = async (): Promise<string> => {
    for (let first = true; ; first = false) {
      // Between steps, a long turn moves to a fresh run (history stays small); handlers must be idle first.
      if (!first && shouldContinueAsNew() && state.pendingApprovals.length === 0 && allHandlersFinished()) {
        await continueAsNewNow(false);
      }
      // Awaited only when there is something to do: every promise in workflow code is tracked by the
      // SDK (a stack trace per promise), and these run on every step.
      if (budgetProblem() || state.status === 'budget_exhausted') await ensureBudget();
      if (endRequested) throw new SessionEnded();
      if (spec!.memory?.contextBudgetTokens && lastPromptTokens >= spec!.memory.contextBudgetTokens * 0.8) await compactIfNeeded();
      const seq = nextSeq++;
      let turn: Awaited<ReturnType<Activities['callModel']>>;
      try {
        turn = await modelCall(
          {
            sessionId,
            agent: spec!.name,
            model: spec!.model,
            seq,
            pending: pending.splice(0),
            toolNames: spec!.tools.map((t) => t.name),
            ...(context ? { context } : {}),
          },
          `model ${spec!.model} (step ${state.steps + 1})`,
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Non-retryable model errors (auth, bad request) or retries exhausted: the session fails with the reason visible.
        const reason = activityError(err)?.message ?? String(err);
        state.error = `model call failed: ${reason}`;
        publish('failed');
        throw ApplicationFailure.nonRetryable(state.error, 'ModelCallFailed');
      }
      // Usage is taken from the completed activity only: a retried or replayed call is never counted twice.
      state.steps++;
      addUsage(turn.usage);
      lastPromptTokens = turn.usage.promptTokens;
      state.transcript.push({
        seq,
        role: 'assistant',
        text: turn.content,
        ...(turn.toolCalls.length ? { toolCalls: turn.toolCalls.map(({ id, name, args, error }) => ({ id, name, args, ...(error ? { error } : {}) })) } : {}),
      });
      publish();
      if (turn.toolCalls.length === 0) return turn.content ?? '';

      // Independent calls of one turn run in parallel; each waits for its own approval if it needs one.
      const seqs = turn.toolCalls.map(() => nextSeq++);
      const calls = turn.toolCalls.map((call, i) => () => runToolCall(call, seqs[i]));
      // At most maxParallelToolCalls at a time: one turn cannot take every process slot or sandbox run.
      if (localSteps) await inParallel(calls, spec!.maxParallelToolCalls ?? 8);
      else await Promise.all(calls.map((run) => run()));
      pending.sort((a, b) => a.seq - b.seq);
      publish();
    }
  };

  const finish = async (status: SessionStatus, endReason?: string): Promise<SessionResult> => {
    if (endReason) state.endReason = endReason;
    if (status === 'completed') await summarizeAtEnd();
    for (const a of approvals.values()) if (a.status === 'pending') a.status = 'withdrawn';
    publish(status);
    await condition(allHandlersFinished);
    return {
      status,
      ...(state.finalAnswer !== undefined ? { finalAnswer: state.finalAnswer } : {}),
      steps: state.steps,
      usage: state.usage,
      costUsd: state.costUsd,
      ...(state.endReason ? { endReason: state.endReason } : {}),
    };
  };

  const shouldContinueAsNew = (): boolean =>
    workflowInfo().continueAsNewSuggested ||
    (spec!.continueAsNewEverySteps !== undefined && state.steps - stepsAtRunStart >= spec!.continueAsNewEverySteps);

  const continueAsNewNow = async (needInput: boolean): Promise<never> => {
    await condition(allHandlersFinished);
    const keep = state.transcript.sort((a, b) => a.seq - b.seq).slice(-TRANSCRIPT_KEPT_ON_CONTINUE);
    const next: CarriedState = {
      state: {
        ...state,
        transcript: keep,
        transcriptFrom: keep[0]?.seq ?? nextSeq,
        approvals: state.approvals.filter((a) => a.status === 'pending').concat(state.approvals.filter((a) => a.status !== 'pending').slice(-20)),
      },
      nextSeq,
      pending,
      inbox,
      topUps,
      needInput,
      ...(context ? { context } : {}),
      lastPromptTokens,
    };
    return continueAsNew<typeof agentSession>({ ...input, carry: next });
  };

  // ---- the session --------------------------------------------------------------------------------------
  const stepsAtRunStart = state.steps;
  try {
    spec = localSteps ? await local.describeAgent(input.agent) : await describeAgent(input.agent);
    state.sandboxMode = spec.sandboxMode;
    refreshBudget();
    if (spec.searchAttributes && !carry) {
      const once = [
        { key: AgentNameKey, value: spec.name },
        { key: SandboxModeKey, value: spec.sandboxMode },
        ...(input.userId ? [{ key: UserIdKey, value: input.userId }] : []),
      ];
      if (localSteps) published.once = once;
      else upsertSearchAttributes(once);
    }
    publish();

    let needInput = carry?.needInput ?? false;
    if (!carry) {
      addMessage({ role: 'system', content: spec.instructions }, { role: 'system', text: spec.instructions }, { pinned: true });
      if (input.task) await recallAtStart(input.task);
      if (input.task) addMessage({ role: 'user', content: input.task }, { role: 'user', text: input.task });
      else if (mode === 'task') throw ApplicationFailure.nonRetryable('a task-mode session needs a task', 'InvalidInput');
      else needInput = true;
    }

    for (;;) {
      if (needInput) {
        publish('awaiting_input');
        const got = await condition(
          () => inbox.length > 0 || endRequested !== undefined || (shouldContinueAsNew() && allHandlersFinished()),
          spec.idleTimeoutMs,
          { summary: 'idle timeout of the chat session' },
        );
        if (!got) return await finish('completed', `idle for ${spec.idleTimeoutMs} ms`);
        if (endRequested) throw new SessionEnded();
        if (inbox.length === 0) return await continueAsNewNow(true);
        const msg = inbox.shift()!;
        currentMessageId = msg.id;
        if (state.steps === 0 && !input.task && !state.memory) await recallAtStart(msg.text);
        addMessage({ role: 'user', content: msg.text }, { role: 'user', text: msg.text });
        publish('running');
      }
      const answer = await runUntilAnswer();
      state.finalAnswer = answer;
      if (mode === 'task') return await finish('completed');
      if (currentMessageId) {
        replies.set(currentMessageId, { messageId: currentMessageId, status: 'awaiting_input', reply: answer, pendingApprovals: [] });
      }
      needInput = true;
      if (shouldContinueAsNew() && inbox.length === 0) return await continueAsNewNow(true);
    }
  } catch (err) {
    if (err instanceof SessionEnded) {
      return await finish('completed', `ended${endRequested?.by ? ` by ${endRequested.by}` : ''}${endRequested?.reason ? `: ${endRequested.reason}` : ''}`);
    }
    if (isCancellation(err)) {
      // Keep the transcript and say so everywhere an operator looks, then end as cancelled.
      await CancellationScope.nonCancellable(async () => {
        for (const a of approvals.values()) if (a.status === 'pending') a.status = 'withdrawn';
        publish('cancelled');
      });
      throw err;
    }
    if (state.status !== 'failed') {
      state.error = err instanceof Error ? err.message : String(err);
      publish('failed');
    }
    throw err;
  }
}
