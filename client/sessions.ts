/** Client-side helpers: what a developer's code, the CLI and other services call. */
import {
  Client,
  WithStartWorkflowOperation,
  WorkflowHandle,
  WorkflowHandleWithFirstExecutionRunId,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { canStartEagerly } from './eager';
import { nanoid } from './ids';
import { loadConfig, requireTaskQueue, webUiLink, type RuntimeConfig } from '../runtime/config';
import { connectTemporalClient } from '../runtime/connection';
import { assertSessionId } from '../runtime/session-id';
import { agentSession } from '../workflows/agentSession';
import {
  approvalSignal,
  decideApprovalUpdate,
  endSignal,
  eventSignal,
  sendMessageUpdate,
  stateQuery,
  topUpBudgetUpdate,
  type ApprovalDecision as ApprovalDecisionType,
  type BudgetTopUp as BudgetTopUpType,
  type EndRequest,
} from '../workflows/messages';
import { ApprovalDecision, BudgetTopUp, ExternalEvent } from '../runtime/message-schemas';
import { startSearchAttributes } from '../workflows/search-attributes';
import type { ApprovalRecord, Budget, ChatReply, SessionInput, SessionState } from '../workflows/types';
import type { Identity } from '../runtime/approvers';
import { signDecision, type SigningKey } from '../runtime/signing';
import { forkSession, resumeSession, type ForkOptions } from './fork';

export { forkSession, resumeSession, ForkOptions, type ForkedSession } from './fork';
export { canStartEagerly } from './eager';

/** A Client from the configuration: TEMPORAL_ADDRESS/NAMESPACE and the envconfig profile (TLS, API key). */
export async function connectClient(config: RuntimeConfig = loadConfig()): Promise<Client> {
  return connectTemporalClient(config);
}

/** Where sessions run: the application's task queue, and the Web UI to link to. */
export interface SessionTarget {
  taskQueue: string;
  /** Web UI base for links (default http://localhost:8233). */
  webUiUrl?: string;
}

/**
 * Session operations bound to the caller's own Client and task queue (the queue its AgentRuntimePlugin
 * worker polls): start, chat, approve, top up, end, state.
 */
export function createSessionClient(opts: { client: Client } & SessionTarget) {
  const { client } = opts;
  if (!opts.taskQueue) throw new Error("createSessionClient: taskQueue is required (the queue your agent worker polls)");
  const target = { TASK_QUEUE: opts.taskQueue, WEB_UI_URL: opts.webUiUrl ?? 'http://localhost:8233', TEMPORAL_NAMESPACE: client.options.namespace };
  return {
    client,
    taskQueue: opts.taskQueue,
    start: (input: SessionInput & { sessionId?: string }) => startSession(client, input, target),
    sendMessage: (sessionId: string, text: string, create: { agent: string; userId?: string }) => sendMessage(client, sessionId, text, create, target),
    pendingApprovals: (sessionId: string) => pendingApprovals(client, sessionId),
    decideApproval: (sessionId: string, decision: ApprovalDecisionType) => decideApproval(client, sessionId, decision),
    signalApproval: (sessionId: string, decision: ApprovalDecisionType) => signalApproval(client, sessionId, decision),
    topUpBudget: (sessionId: string, topUp: BudgetTopUpType) => topUpBudget(client, sessionId, topUp),
    end: (sessionId: string, request?: EndRequest) => endSession(client, sessionId, request),
    sendEvent: (sessionId: string, name: string, payload?: unknown, opts?: { id?: string }) => sendEvent(client, sessionId, name, payload, opts),
    state: (sessionId: string) => sessionState(client, sessionId),
    /** A new session from this one's state after entry `atSeq` (the original is not changed). */
    fork: (sessionId: string, options: ForkOptions) => forkSession(client, sessionId, options, target),
    /** Continues a failed session from its last stored step, as `<id>.r<N>`. */
    resume: (sessionId: string) => resumeSession(client, sessionId, target),
    handle: (sessionId: string) => sessionHandle(client, sessionId),
    waitForState: (sessionId: string, predicate: (s: SessionState) => boolean, o?: { timeoutMs?: number; intervalMs?: number }) =>
      waitForState(client, sessionId, predicate, o),
  };
}
export type SessionClient = ReturnType<typeof createSessionClient>;

/** What startSession/sendMessage need from a configuration: the task queue, and the Web UI for links. */
type TargetConfig = Pick<RuntimeConfig, 'TASK_QUEUE' | 'WEB_UI_URL' | 'TEMPORAL_NAMESPACE'>;

export interface StartedSession {
  sessionId: string;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof agentSession>;
  webUi: string;
  /** True when the server handed the session's first workflow task straight to a worker in this process (eager start). */
  eagerlyStarted: boolean;
}

export async function startSession(
  client: Client,
  input: SessionInput & { sessionId?: string },
  config: TargetConfig = loadConfig(),
): Promise<StartedSession> {
  const taskQueue = requireTaskQueue(config, 'startSession');
  // The same grammar the workflow enforces, checked here so a bad id never starts anything.
  const sessionId = assertSessionId(input.sessionId ?? `session-${input.agent.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80)}-${nanoid()}`);
  const handle = await withStartAttributes(client, (typedSearchAttributes) =>
    client.workflow.start(agentSession, {
      taskQueue,
      workflowId: sessionId,
      // A session id names one session forever (its transcript is keyed by it): never reuse a closed one.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [sessionInput(input)],
      staticSummary: sessionSummary(input),
      // The session keeps this memo current (see pendingApprovals below); present from the start so
      // clients can tell "nothing pending" from "a session too old to publish it".
      memo: { pendingApprovals: null },
      ...(typedSearchAttributes ? { typedSearchAttributes: startSearchAttributes(input) } : {}),
      ...(canStartEagerly(client) ? { requestEagerStart: true } : {}),
    }),
  );
  return { sessionId, handle, webUi: webUiLink(config, sessionId), eagerlyStarted: handle.eagerlyStarted };
}

const GRPC_INVALID_ARGUMENT = 3;

/** Clients whose server refused the session's search attributes (not registered): they start without them. */
const withoutStartAttributes = new WeakSet<Client>();

/**
 * Starts with the session's first search attribute values (workflows/search-attributes.ts), which saves the
 * session an upsert. A server without those attributes registered refuses such a start: this client then
 * starts sessions without them (the worker warns about the missing registration at its start).
 */
export async function withStartAttributes<T>(client: Client, start: (withAttributes: boolean) => Promise<T>): Promise<T> {
  if (withoutStartAttributes.has(client)) return start(false);
  try {
    return await start(true);
  } catch (err) {
    if (isUnregisteredAttributeError(err)) {
      withoutStartAttributes.add(client);
      return start(false);
    }
    throw err;
  }
}

/** The server refused a start because a search attribute it was given is not registered. */
export function isUnregisteredAttributeError(err: unknown): boolean {
  // A ServiceError ("Failed to start Workflow") whose cause is the gRPC status and the server's reason.
  const e = err as { code?: number; message?: string; cause?: { code?: number; message?: string } };
  const status = e.code ?? e.cause?.code;
  return status === GRPC_INVALID_ARGUMENT && /search attribute/i.test(`${e.message} ${e.cause?.message}`);
}

function sessionInput(input: SessionInput): SessionInput {
  return {
    agent: input.agent,
    ...(input.mode ? { mode: input.mode } : {}),
    ...(input.task ? { task: input.task } : {}),
    ...(input.userId ? { userId: input.userId } : {}),
  };
}

/** Static summary shown in the Web UI's workflow list: agent, user, task. */
function sessionSummary(input: SessionInput): string {
  const what = input.task ? `: ${input.task.slice(0, 120)}` : input.mode === 'chat' ? ' (chat)' : '';
  return `agent ${input.agent}${input.userId ? ` for ${input.userId}` : ''}${what}`;
}

/**
 * Chat: sends a message to the session with this id, creating the session first if it does not exist
 * (update-with-start). Resolves with the assistant's reply, or the pending approval the turn stopped on.
 */
export async function sendMessage(
  client: Client,
  sessionId: string,
  text: string,
  create: { agent: string; userId?: string },
  config: TargetConfig = loadConfig(),
): Promise<ChatReply> {
  const taskQueue = requireTaskQueue(config, 'sendMessage');
  assertSessionId(sessionId);
  const input: SessionInput = { agent: create.agent, mode: 'chat', ...(create.userId ? { userId: create.userId } : {}) };
  return withStartAttributes(client, (typedSearchAttributes) => {
    const start = new WithStartWorkflowOperation(agentSession, {
      workflowId: sessionId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      staticSummary: sessionSummary(input),
      memo: { pendingApprovals: null },
      ...(typedSearchAttributes ? { typedSearchAttributes: startSearchAttributes(input) } : {}),
    });
    return client.workflow.executeUpdateWithStart(sendMessageUpdate, { args: [{ text }], startWorkflowOperation: start });
  });
}

export async function topUpBudget(client: Client, sessionId: string, topUp: BudgetTopUpType): Promise<Budget> {
  return sessionHandle(client, sessionId).executeUpdate(topUpBudgetUpdate, { args: [BudgetTopUp.parse(topUp)] });
}

export async function endSession(client: Client, sessionId: string, request: EndRequest = {}): Promise<void> {
  await sessionHandle(client, sessionId).signal(endSignal, request);
}

/**
 * Delivers an external event ("payment_received") to a session, for its `wait_for_event` tool. Checked
 * here (name grammar, payload at most 16 KiB of JSON); the session refuses names its agent does not list
 * (see `rejectedMessages` in its state). With `id`, a re-sent event is taken once.
 */
export async function sendEvent(client: Client, sessionId: string, name: string, payload?: unknown, opts: { id?: string } = {}): Promise<void> {
  const parsed = ExternalEvent.safeParse({ name, ...(payload !== undefined ? { payload } : {}), ...(opts.id !== undefined ? { id: opts.id } : {}) });
  if (!parsed.success) throw new Error(`sendEvent: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'event'}: ${i.message}`).join('; ')}`);
  await sessionHandle(client, sessionId).signal(eventSignal, parsed.data);
}

export function sessionHandle(client: Client, sessionId: string): WorkflowHandle<typeof agentSession> {
  return client.workflow.getHandle<typeof agentSession>(assertSessionId(sessionId));
}

export async function sessionState(client: Client, sessionId: string): Promise<SessionState> {
  return sessionHandle(client, sessionId).query(stateQuery);
}

/** What an approver needs to decide a pending approval. */
export interface PendingApprovalRef {
  approvalId: string;
  tool: string;
  approverGroup: string;
  argsHash: string;
  deadline: string;
  /** A sub-agent's approval listed by the session that delegated to it: the session that asked (deciding through either works). */
  sessionId?: string;
}

/**
 * The session's pending approvals, from the memo it publishes: answered by the server alone, so an
 * approver is never held up by a crashed worker's sticky queue (a state query would wait for it).
 * When the memo lists none, the session is asked with the state query (sessions running older code).
 */
export async function pendingApprovals(client: Client, sessionId: string): Promise<PendingApprovalRef[]> {
  const { memo } = await sessionHandle(client, sessionId).describe();
  const published = (memo?.pendingApprovals as PendingApprovalRef[] | null | undefined) ?? [];
  if (published.length > 0) return published;
  // Nothing published: confirm with the session itself (it may run code that predates the memo).
  const state = await sessionState(client, sessionId);
  return state.pendingApprovals.map(({ approvalId, tool, approverGroup, argsHash, deadline, sessionId: asker }) => ({
    approvalId,
    tool,
    approverGroup,
    argsHash,
    deadline,
    ...(asker ? { sessionId: asker } : {}),
  }));
}

/** Sends a decision as a signal (fire and forget) after checking its shape locally. */
export async function signalApproval(client: Client, sessionId: string, decision: ApprovalDecisionType): Promise<void> {
  await sessionHandle(client, sessionId).signal(approvalSignal, ApprovalDecision.parse(decision));
}

/** Sends a decision as an Update: resolves with the decided record, or throws the validator's reason. */
export async function decideApproval(client: Client, sessionId: string, decision: ApprovalDecisionType): Promise<ApprovalRecord> {
  try {
    return await sessionHandle(client, sessionId).executeUpdate(decideApprovalUpdate, { args: [decision] });
  } catch (err) {
    // Surface the validator's reason ("unknown approvalId ...") rather than the generic "Workflow Update failed".
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof Error) {
      throw new Error(`decision refused: ${err.cause.message}`, { cause: err });
    }
    throw err;
  }
}

/** Polls the state query until `predicate` holds (queries are cheap; a signal-driven push would need a subscriber). */
export async function waitForState(
  client: Client,
  sessionId: string,
  predicate: (s: SessionState) => boolean,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<SessionState> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let last: SessionState | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await sessionState(client, sessionId);
      if (predicate(last)) return last;
    } catch (err) {
      lastError = err; // the first workflow task may not have run yet
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  throw new Error(
    `session ${sessionId}: condition not reached in ${opts.timeoutMs ?? 60_000} ms; last status ${last?.status ?? 'unknown'}` +
      (lastError && !last ? ` (${String(lastError)})` : ''),
  );
}

/** Who decides and how: an identity established by the caller's own authentication (HTTP, agentctl). */
export interface DecideAs {
  identity: Identity;
  via: 'http' | 'cli' | 'service';
  /** Signs the decision (needed by agents that require signed decisions). */
  key?: SigningKey;
  /** Signature lifetime; default runtime/signing.ts DEFAULT_SIGNATURE_TTL_MS. */
  ttlMs?: number;
  /** 'update' (default): waits for the decided record; 'signal': fire and forget. */
  channel?: 'update' | 'signal';
}

/**
 * Decides an approval as an authenticated identity: the approver is the identity (never a name from a
 * request body), the decision says how it came, and it is signed when a key is given. The argsHash is
 * taken from the pending approval when the caller does not pass one.
 */
export async function decideApprovalAs(
  client: Client,
  sessionId: string,
  decision: { approvalId: string; decision: 'approve' | 'reject'; comment?: string; editedArgs?: Record<string, unknown>; argsHash?: string },
  as: DecideAs,
): Promise<ApprovalRecord | undefined> {
  let argsHash = decision.argsHash;
  if (argsHash === undefined && as.key) {
    const pending = (await pendingApprovals(client, sessionId)).find((a) => a.approvalId === decision.approvalId);
    if (!pending) throw new Error(`session ${sessionId} has no pending approval '${decision.approvalId}'`);
    argsHash = pending.argsHash;
  }
  const unsigned = {
    approvalId: decision.approvalId,
    decision: decision.decision,
    approver: as.identity.id,
    via: as.via,
    ...(decision.comment !== undefined ? { comment: decision.comment } : {}),
    ...(decision.editedArgs !== undefined ? { editedArgs: decision.editedArgs } : {}),
    ...(argsHash !== undefined ? { argsHash } : {}),
  };
  const full: ApprovalDecisionType = as.key ? signDecision({ ...unsigned, argsHash: argsHash! }, as.key, as.ttlMs ? { ttlMs: as.ttlMs } : {}) : unsigned;
  if (as.channel === 'signal') {
    await signalApproval(client, sessionId, full);
    return undefined;
  }
  return decideApproval(client, sessionId, ApprovalDecision.parse(full));
}
