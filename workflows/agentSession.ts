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
 *
 * The parts live in `session/`: pure rules (budget.ts, ledger.ts, approvals.ts, status.ts, carry.ts,
 * parallel.ts, delegation.ts; unit-tested without a server) and the parts that talk to Temporal (handlers.ts,
 * publish.ts, approval-wait.ts, tool-call.ts, model-call.ts, memory.ts, loop.ts, fork.ts, waits.ts, and for
 * sub-agents delegate-call.ts and parent-report.ts).
 */
import { allHandlersFinished, ApplicationFailure, CancellationScope, condition, ContinueAsNew, isCancellation, patched, TemporalFailure, workflowInfo } from '@temporalio/workflow';
import { sessionIdProblem } from './session-id';
import { delegationRequestProblem } from './validate';
import { totalsOfState } from './session/delegation';
import { reportToParent } from './session/parent-report';
import { describeAgent, local } from './session/activities';
import { withdrawPending } from './session/approvals';
import { initialState, migrateCarry } from './session/carry';
import { SessionEnded } from './session/failures';
import { installHandlers, refreshBudget, rejectMessage } from './session/handlers';
import { unlistedEvents } from './session/waits';
import { Ledger } from './session/ledger';
import { continueAsNewNow, finish, runUntilAnswer, shouldContinueAsNew } from './session/loop';
import { recallAtStart } from './session/memory';
import { CONTINUE_NOT_FAILED_PATCH, DELEGATION_PATCH, FORK_PATCH, LOCAL_STEPS_PATCH } from './session/patches';
import { continueFork, startFork, type ForkStart } from './session/fork';
import { SIGNED_APPROVALS_PATCH } from './approval-auth';
import { publish, publishOnce } from './session/publish';
import type { SessionRun } from './session/run';
import type { SessionInput, SessionResult } from './types';

export {
  AgentNameKey,
  CostUsdKey,
  ForkedAtSeqKey,
  ParentSessionKey,
  PendingApprovalsKey,
  SandboxModeKey,
  SessionStatusKey,
  TokensUsedKey,
  UserIdKey,
} from './search-attributes';

export { APPROVAL_NOTIFY_PATCH, CONTINUE_NOT_FAILED_PATCH, DELEGATION_PATCH, EDITED_ARGS_PATCH, FORK_PATCH, LOCAL_STEPS_PATCH, SESSION_GRANTS_PATCH, WAITS_PATCH } from './session/patches';
export { SIGNED_APPROVALS_PATCH } from './approval-auth';

export async function agentSession(input: SessionInput): Promise<SessionResult> {
  const sessionId = workflowInfo().workflowId;
  // Decided once per run: a run keeps one step shape for its whole life (replay of older runs stays exact).
  const localSteps = patched(LOCAL_STEPS_PATCH);
  // Decisions checked against the agent's approval policy (signature, group, separation of duties) and
  // their provenance recorded: workflows/approval-auth.ts. Older runs keep deciding as before.
  const signedApprovals = patched(SIGNED_APPROVALS_PATCH);
  // Started on Temporal directly with an id no client would accept: refuse before anything runs (the id
  // names the session's store entries and workspace).
  const badId = sessionIdProblem(sessionId);
  if (badId) throw ApplicationFailure.nonRetryable(`invalid session id: ${badId}`, 'InvalidSessionId');
  // A sub-agent (started by its parent as a child workflow, session/delegate-call.ts): its request is
  // checked before anything runs; it reports its approvals and its end to the parent.
  if (input.delegation !== undefined) {
    const problem = delegationRequestProblem(input.delegation);
    if (problem) throw ApplicationFailure.nonRetryable(`invalid delegation request: ${problem}`, 'InvalidDelegation');
    patched(DELEGATION_PATCH);
  }
  // A fork's first run starts from its parent's state at the fork point, handed over like a carry
  // (session/fork.ts); its later runs carry on as usual (input.carry is then set).
  const forked: ForkStart | undefined = input.fork && !input.carry && patched(FORK_PATCH) ? await startFork(sessionId, input) : undefined;
  const s = startRun(sessionId, forked ? { ...input, carry: forked.carry } : input, { localSteps, signedApprovals });
  installHandlers(s);
  const { state, mode } = s;

  try {
    s.spec = localSteps ? await local.describeAgent(input.agent) : await describeAgent(input.agent);
    state.sandboxMode = s.spec.sandboxMode;
    // Events sent before the spec was known are checked against the agent's list now.
    for (const problem of unlistedEvents(state, s.spec.waits?.events ?? [])) rejectMessage(s, problem);
    refreshBudget(s);
    if (s.spec.searchAttributes && (!s.carry || forked)) publishOnce(s);
    publish(s);

    let needInput = s.carry?.needInput ?? false;
    if (forked) needInput = await continueFork(s, forked.point, input.task);
    if (!s.carry) {
      s.ledger.addMessage({ role: 'system', content: s.spec.instructions }, { role: 'system', text: s.spec.instructions }, { pinned: true });
      if (input.task) await recallAtStart(s, input.task);
      if (input.task) s.ledger.addMessage({ role: 'user', content: input.task }, { role: 'user', text: input.task });
      else if (mode === 'task') throw ApplicationFailure.nonRetryable('a task-mode session needs a task', 'InvalidInput');
      else needInput = true;
    }

    for (;;) {
      if (needInput) {
        publish(s, 'awaiting_input');
        const got = await condition(
          () => s.inbox.length > 0 || s.endRequested !== undefined || (shouldContinueAsNew(s) && allHandlersFinished()),
          s.spec.idleTimeoutMs,
          { summary: 'idle timeout of the chat session' },
        );
        if (!got) return await finish(s, 'completed', `idle for ${s.spec.idleTimeoutMs} ms`);
        if (s.endRequested) throw new SessionEnded();
        if (s.inbox.length === 0) return await continueAsNewNow(s, true);
        const msg = s.inbox.shift()!;
        s.currentMessageId = msg.id;
        if (state.steps === 0 && !input.task && !state.memory) await recallAtStart(s, msg.text);
        s.ledger.addMessage({ role: 'user', content: msg.text }, { role: 'user', text: msg.text });
        publish(s, 'running');
      }
      const answer = await runUntilAnswer(s);
      state.finalAnswer = answer;
      if (mode === 'task') return await finish(s, 'completed');
      if (s.currentMessageId) {
        s.replies.set(s.currentMessageId, { messageId: s.currentMessageId, status: 'awaiting_input', reply: answer, pendingApprovals: [] });
      }
      needInput = true;
      if (shouldContinueAsNew(s) && s.inbox.length === 0) return await continueAsNewNow(s, true);
    }
  } catch (err) {
    // The run hands over to the next one: nothing failed (older runs marked it failed; they replay as they ran).
    if (err instanceof ContinueAsNew && patched(CONTINUE_NOT_FAILED_PATCH)) throw err;
    if (err instanceof SessionEnded) {
      const e = s.endRequested;
      return await finish(s, 'completed', `ended${e?.by ? ` by ${e.by}` : ''}${e?.reason ? `: ${e.reason}` : ''}`);
    }
    if (isCancellation(err)) {
      // Keep the transcript and say so everywhere an operator looks, then end as cancelled.
      await CancellationScope.nonCancellable(async () => {
        withdrawPending(s.approvals.values());
        publish(s, 'cancelled');
        // A sub-agent tells its parent what it used before it closes (the parent rolls it up).
        if (state.delegatedFrom) await reportToParent(s, { pending: [], final: { status: 'cancelled', ...totalsOfState(state) } });
      });
      throw err;
    }
    if (state.status !== 'failed') {
      state.error = err instanceof Error ? err.message : String(err);
      publish(s, 'failed');
    }
    // Only a failure that ends the workflow (not one that fails a workflow task, which is retried) is reported.
    if (state.delegatedFrom && err instanceof TemporalFailure) {
      await reportToParent(s, { pending: [], final: { status: 'failed', ...totalsOfState(state), ...(state.error ? { error: state.error.slice(0, 2000) } : {}) } });
    }
    throw err;
  }
}

/** The run's state: a new session's, or the previous run's carry (migrated from older versions first). */
function startRun(sessionId: string, input: SessionInput, shape: { localSteps: boolean; signedApprovals: boolean }): SessionRun {
  let carry = undefined as SessionInput['carry'];
  if (input.carry !== undefined) {
    const migrated = migrateCarry(input.carry);
    // Not a session failure: a worker too old for this carry fails the task, which a newer worker retries.
    if (!migrated.ok) throw new Error(`cannot continue session ${sessionId}: ${migrated.problem}`);
    carry = migrated.carry;
  }
  const state = carry?.state ?? initialState(sessionId, input);
  if (carry) state.run += 1;
  return {
    input,
    sessionId,
    mode: input.mode ?? 'task',
    ...shape,
    ...(carry ? { carry } : {}),
    state,
    approvals: new Map(state.approvals.map((a) => [a.approvalId, a])),
    inbox: carry?.inbox ?? [],
    replies: new Map(),
    topUps: carry?.topUps ?? {},
    ledger: new Ledger(carry?.nextSeq ?? 0, carry?.pending ?? [], state.transcript),
    ...(carry?.context ? { context: carry.context } : {}),
    lastPromptTokens: carry?.lastPromptTokens ?? 0,
    stepsAtRunStart: state.steps,
    published: { pending: 0, memo: '', once: [] },
    childReports: new Map(),
    childFinals: new Map(),
    forwarded: new Map(),
    turnDelegations: 0,
  };
}
