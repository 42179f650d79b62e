/**
 * Forks and resumes: a new session that starts as an existing one was at a past step (activities/fork.ts,
 * workflows/session/fork.ts). The parent is never touched: its history, transcript and outbox stay as they
 * are (Temporal's reset rewrites the one workflow; this starts another one).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import { canStartEagerly } from './eager';
import { nanoid } from './ids';
import { loadConfig, requireTaskQueue, webUiLink, type RuntimeConfig } from '../runtime/config';
import { assertSessionId } from '../runtime/session-id';
import { agentSession } from '../workflows/agentSession';
import { LIMITS } from '../workflows/limits';
import { startSearchAttributes } from '../workflows/search-attributes';
import { SESSION_ID_MAX_LENGTH } from '../workflows/session-id';
import { FORK_VERSION } from '../workflows/session/fork';
import type { SessionInput } from '../workflows/types';
import { isUnregisteredAttributeError, withStartAttributes, type StartedSession } from './sessions';

type TargetConfig = Pick<RuntimeConfig, 'TASK_QUEUE' | 'WEB_UI_URL' | 'TEMPORAL_NAMESPACE'>;

export const ForkOptions = z
  .object({
    /** The parent's last entry the fork shares (a seq from its transcript). */
    atSeq: z.number().int().min(0).max(2 ** 31 - 2),
    /** A new task (or chat message) for the fork, added after the shared prefix. */
    task: z.string().min(1).max(LIMITS.chatMessageChars).optional(),
    /** The fork's session id (default `<parent>.f-<random>`). */
    forkId: z.string().min(1).max(SESSION_ID_MAX_LENGTH).optional(),
  })
  .strict();
export type ForkOptions = z.input<typeof ForkOptions>;

export interface ForkedSession extends StartedSession {
  parentSessionId: string;
  /** The fork point; absent for a resume until the fork has read it (state.forkedFrom.atSeq). */
  atSeq?: number;
}

/** Starts a new session from `sessionId`'s state after entry `atSeq`; the original is not changed. */
export async function forkSession(client: Client, sessionId: string, options: ForkOptions, config: TargetConfig = loadConfig()): Promise<ForkedSession> {
  const parsed = ForkOptions.safeParse(options);
  if (!parsed.success) throw new Error(`fork options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const { atSeq, task } = parsed.data;
  const forkId = assertSessionId(parsed.data.forkId ?? derivedId(sessionId, `f-${nanoid()}`));
  return startFork(client, sessionId, forkId, { atSeq, ...(task ? { task } : {}) }, config);
}

/** Workflow statuses a resume applies to: the session stopped without finishing. */
const RESUMABLE = new Set(['FAILED', 'TIMED_OUT', 'TERMINATED']);
const MAX_RESUMES = 100;

/**
 * Continues a session that failed (model key revoked, retries exhausted, a worker bug) from its last
 * stored step, once the cause is fixed: a fork at the parent's last stored entry under the id
 * `<root>.r<N>` (the first free N; `<root>` is the original session id), linked by ParentSession.
 * Completed model turns and tool results are not repeated: they are the fork's shared prefix.
 */
export async function resumeSession(client: Client, sessionId: string, config: TargetConfig = loadConfig()): Promise<ForkedSession> {
  assertSessionId(sessionId);
  const { status } = await client.workflow.getHandle(sessionId).describe();
  if (!RESUMABLE.has(status.name)) {
    throw new Error(`session ${sessionId} is ${status.name}: only a failed, timed-out or terminated session can be resumed (fork a running or completed one instead)`);
  }
  const root = sessionId.replace(/\.r\d+$/, '');
  for (let n = 1; n <= MAX_RESUMES; n++) {
    const id = derivedId(root, `r${n}`);
    if (id === sessionId || (await exists(client, id))) continue;
    return startFork(client, sessionId, id, {}, config);
  }
  throw new Error(`session ${root} has been resumed ${MAX_RESUMES} times; fork it with an explicit id instead`);
}

const GRPC_NOT_FOUND = 5;

/**
 * The parent's agent, mode and user, from the first event of its current run (one small read; a state
 * query would replay the whole parent on a worker, which for a long closed session takes a while).
 */
async function parentInput(client: Client, sessionId: string): Promise<Pick<SessionInput, 'agent' | 'mode' | 'userId'>> {
  let started;
  try {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: sessionId },
      maximumPageSize: 1,
    });
    started = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  } catch (err) {
    if ((err as { code?: number }).code === GRPC_NOT_FOUND) throw new WorkflowNotFoundError(`session '${sessionId}' not found`, sessionId, undefined);
    throw err;
  }
  if (!started) throw new Error(`session ${sessionId}: its history has no start event to fork from`);
  const input = await decodeFromPayloadsAtIndex<SessionInput>(client.options.loadedDataConverter, 0, started.input?.payloads);
  if (!input || typeof input.agent !== 'string') throw new Error(`session ${sessionId} was not started as an agent session; only agent sessions can be forked`);
  return { agent: input.agent, ...(input.mode ? { mode: input.mode } : {}), ...(input.userId ? { userId: input.userId } : {}) };
}

async function exists(client: Client, id: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

/** `<parent>.<suffix>`, the parent part shortened so the id stays within the grammar's length. */
function derivedId(parent: string, suffix: string): string {
  return `${parent.slice(0, SESSION_ID_MAX_LENGTH - suffix.length - 1)}.${suffix}`;
}

async function startFork(
  client: Client,
  parentSessionId: string,
  forkId: string,
  at: { atSeq?: number; task?: string },
  config: TargetConfig,
): Promise<ForkedSession> {
  const taskQueue = requireTaskQueue(config, 'fork');
  assertSessionId(parentSessionId);
  const parent = await parentInput(client, parentSessionId);
  const fork = { forkVersion: FORK_VERSION, parentSessionId, ...(at.atSeq !== undefined ? { atSeq: at.atSeq } : {}) };
  const input: SessionInput = {
    agent: parent.agent,
    mode: parent.mode,
    ...(at.task ? { task: at.task } : {}),
    ...(parent.userId ? { userId: parent.userId } : {}),
    fork,
  };
  const what = at.atSeq !== undefined ? `fork of ${parentSessionId} at seq ${at.atSeq}` : `resume of ${parentSessionId}`;
  const start = (attributes: 'all' | 'session' | 'none') =>
    client.workflow.start(agentSession, {
      taskQueue,
      workflowId: forkId,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      args: [input],
      staticSummary: `${what}${at.task ? `: ${at.task.slice(0, 120)}` : ''}`,
      memo: { pendingApprovals: null },
      ...(attributes === 'all' ? { typedSearchAttributes: startSearchAttributes(input) } : {}),
      ...(attributes === 'session' ? { typedSearchAttributes: startSearchAttributes({ ...input, fork: undefined }) } : {}),
      ...(canStartEagerly(client) ? { requestEagerStart: true } : {}),
    });
  // A server that does not have ParentSession/ForkedAtSeq registered yet (registered before forks existed)
  // still starts the fork, with the session's other attributes; the client is not marked as attribute-less.
  const handle = await start('all').catch((err: unknown) => {
    if (!isUnregisteredAttributeError(err)) throw err;
    return withStartAttributes(client, (withAttributes) => start(withAttributes ? 'session' : 'none'));
  });
  return { sessionId: forkId, handle, webUi: webUiLink(config, forkId), eagerlyStarted: handle.eagerlyStarted, parentSessionId, ...(at.atSeq !== undefined ? { atSeq: at.atSeq } : {}) };
}
