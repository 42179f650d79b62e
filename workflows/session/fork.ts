/**
 * A fork's (or resume's) first steps. The session was started with a fork request (input.fork): its first
 * activity links its transcript to the parent's prefix in the store and reads the parent's state at the
 * fork point (activities/fork.ts); that state becomes this run's carry, exactly as if the session had
 * continued as new from the parent at that step. Then the last turn's unfinished tool calls run (a call
 * that waited on an approval asks again, under this session's own approval id), the fork's task is added,
 * and the ordinary loop goes on. Nothing of the prefix is called or run again.
 */
import { ApplicationFailure, patched, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from './activities';
import type { CarriedState, ForkPoint, SessionInput } from '../types';
import { CARRY_VERSION, initialState } from './carry';
import { DEFAULT_MAX_PARALLEL_TOOL_CALLS } from './loop';
import { inParallel } from './parallel';
import { FORK_STATE_PATCH } from './patches';
import { publish } from './publish';
import type { SessionRun } from './run';
import { runToolCall } from './tool-call';
import { ForkedAtSeqKey, ParentSessionKey } from '../search-attributes';
import { sessionIdProblem } from '../session-id';

/** The fork request shape this code reads; a newer one is left to a newer worker. */
export const FORK_VERSION = 1;

// Local: store reads and a directory copy in the worker that runs the fork (no server round trip before
// the fork's first step); the SDK keeps the workflow task alive while a long copy runs.
const { forkFrom } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidForkPoint'] },
});

export type ForkStart = { carry: CarriedState; point: ForkPoint };

/** Links the transcript and reads the parent's state at the fork point; returns it as a carry. */
export async function startFork(sessionId: string, input: SessionInput): Promise<ForkStart> {
  const fork = input.fork!;
  if (typeof fork.forkVersion !== 'number' || fork.forkVersion > FORK_VERSION) {
    // Not a session failure: the workflow task fails and a newer worker picks it up.
    throw new Error(`fork request version ${JSON.stringify(fork.forkVersion)} is newer than this worker understands (${FORK_VERSION}); deploy the newer worker version`);
  }
  // Started on Temporal directly, past the client's checks: refuse a malformed request before anything runs.
  const badParent = sessionIdProblem(fork.parentSessionId);
  if (badParent) throw ApplicationFailure.nonRetryable(`invalid fork request: parent ${badParent}`, 'InvalidForkPoint');
  if (fork.parentSessionId === sessionId) throw ApplicationFailure.nonRetryable('invalid fork request: a session cannot fork itself', 'InvalidForkPoint');
  if (fork.atSeq !== undefined && (typeof fork.atSeq !== 'number' || !Number.isInteger(fork.atSeq) || fork.atSeq < 0)) {
    throw ApplicationFailure.nonRetryable(`invalid fork request: atSeq must be an integer >= 0, got ${JSON.stringify(fork.atSeq)}`, 'InvalidForkPoint');
  }
  const point = await forkFrom({
    sessionId,
    parentSessionId: fork.parentSessionId,
    agent: input.agent,
    ...(fork.atSeq !== undefined ? { atSeq: fork.atSeq } : {}),
  });
  if (point.answered && point.openCalls.length === 0 && !input.task && (input.mode ?? 'task') === 'task') {
    throw ApplicationFailure.nonRetryable(
      `session ${fork.parentSessionId} had already answered at seq ${point.atSeq}: give the fork a task (or fork at an earlier seq)`,
      'InvalidForkPoint',
    );
  }
  // The parent's grants and top-ups as of the fork point (forks started before the patch began without them).
  const carryState = patched(FORK_STATE_PATCH);
  const carried = carryState ? point.carried : undefined;
  const state = {
    ...initialState(sessionId, input),
    steps: point.steps,
    usage: point.usage,
    costUsd: point.costUsd,
    transcript: point.transcript,
    transcriptFrom: point.transcript[0]?.seq ?? point.nextSeq,
    ...(carried ? { topUps: carried.topUps, ...(carried.sessionGrants.length ? { sessionGrants: carried.sessionGrants } : {}) } : {}),
    forkedFrom: {
      sessionId: fork.parentSessionId,
      atSeq: point.atSeq,
      workspace: point.workspace,
      ...(point.workspaceDetail ? { workspaceDetail: point.workspaceDetail } : {}),
      ...(carried ? { carried: { grants: carried.sessionGrants.length, topUps: carried.topUps.length, ...(carried.note ? { note: carried.note } : {}) } } : {}),
    },
    // A carried state counts as the run before this one; the fork's first run is its run 1.
    run: 0,
  };
  const carry: CarriedState = {
    carryVersion: CARRY_VERSION,
    state,
    nextSeq: point.nextSeq,
    pending: [],
    inbox: [],
    topUps: carried ? { ...carried.topUpTotal } : {},
    needInput: false,
    ...(point.context ? { context: point.context } : {}),
    lastPromptTokens: point.lastPromptTokens,
  };
  return { carry, point };
}

/**
 * Runs the parent's unfinished tool calls, adds the fork's task; returns whether the fork then waits for
 * input (a chat fork of an answered turn without a new message).
 */
export async function continueFork(s: SessionRun, point: ForkPoint, task: string | undefined): Promise<boolean> {
  const spec = s.spec!;
  if (spec.searchAttributes) {
    // The client set them at start when it knew the fork point; a resume learns it here.
    const atStart = workflowInfo().typedSearchAttributes;
    if (atStart.get(ForkedAtSeqKey) === undefined) s.published.once.push({ key: ForkedAtSeqKey, value: point.atSeq });
    if (atStart.get(ParentSessionKey) === undefined) s.published.once.push({ key: ParentSessionKey, value: s.state.forkedFrom!.sessionId });
  }
  if (point.openCalls.length > 0) {
    publish(s, 'running');
    const calls = point.openCalls.map(({ call, seq }) => () => runToolCall(s, call, seq));
    await inParallel(calls, spec.maxParallelToolCalls ?? DEFAULT_MAX_PARALLEL_TOOL_CALLS);
    s.ledger.sortPending();
  }
  if (task) s.ledger.addMessage({ role: 'user', content: task }, { role: 'user', text: task });
  publish(s, 'running');
  return point.answered && point.openCalls.length === 0 && !task;
}
