/**
 * Sub-agents (patch `delegation-v1`), the parts that talk to Temporal. A `delegate_to_<agent>` call starts
 * a child session (`agentSession` as a child workflow, id `<parent>.d<seq>`) with a share of this session's
 * budget and waits for it; its answer, or why it has none, is the tool result. The child is started in its
 * own cancellation scope: cancelling this session cancels it (and so does the parent close policy), and
 * ending this session (end signal) cancels it too. Several calls of one turn run at the same time like any
 * tool calls, and the turn goes on when all have joined.
 *
 * A decision sent here about a child's approval is forwarded to the child (`delegatedDecisionSignal`) and
 * decided there, under the child's approval policy: this session checks only what it can see (shape,
 * still pending, same arguments) and never decides in the child's place.
 */
import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  ChildWorkflowFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  ParentClosePolicy,
  startChild,
  TemporalFailure,
  TerminatedFailure,
  TimeoutFailure,
  uuid4,
} from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { delegatedDecisionSignal, type ApprovalDecision } from '../messages';
import { AgentNameKey, ParentSessionKey, PendingApprovalsKey, SessionStatusKey, UserIdKey } from '../search-attributes';
import type { ApprovalRecord, CheckedToolCall, ChildSession, SessionInput, SessionResult, TranscriptEntry } from '../types';
import { checkApprovalDecision, checkDelegateArgs } from '../validate';
import { addChild, answerText, childBudget, childSessionId, delegationDepth, delegationRefusal, DELEGATION_VERSION, endChild, forwardTarget, isRunningChild, totalsOfResult } from './delegation';
import { publish } from './publish';
import type { SessionRun } from './run';

/** The transcript (state query) shows the first part of a child's answer; the model gets it whole (up to LIMITS.delegateAnswerChars). */
const PREVIEW_CHARS = 400;
/** How long a decision forwarded to a child waits for the child's verdict before the caller is told to look there. */
export const FORWARD_ANSWER_TIMEOUT_MS = 60_000;

type AgentSessionFn = (input: SessionInput) => Promise<SessionResult>;

/** Carries out a `delegate_to_<agent>` call and writes its result under the call's seq. */
export async function runDelegation(s: SessionRun, call: CheckedToolCall, seq: number, extra: Partial<TranscriptEntry>): Promise<void> {
  const { state } = s;
  const spec = s.spec!;
  const result = (text: string, ok: boolean): void =>
    s.ledger.toolNote(seq, call, text, { ...extra, ok, ...(text.length > PREVIEW_CHARS ? { text: `${text.slice(0, PREVIEW_CHARS)}…` } : {}) });
  const policy = spec.delegates?.find((d) => d.tool === call.name);
  if (!policy) return result(`Error: '${call.name}' delegates to no agent in this agent version`, false);
  // Checked on the worker already (zod); again here, where the bound is enforced whatever sent the call.
  const args = checkDelegateArgs(call.args);
  if (!args.ok) return result(`Error: invalid arguments for '${call.name}': ${args.problem}`, false);
  if (s.endRequested) return result('Error: not delegated: this session is ending', false);
  const refused = delegationRefusal(state, s.turnDelegations);
  if (refused) return result(`Error: ${refused}`, false);
  const given = childBudget(state, policy.budgetShare);
  if (!given.ok) return result(`Error: ${given.problem}`, false);

  const childId = childSessionId(s.sessionId, seq);
  const task = args.value.task;
  s.turnDelegations += 1;
  addChild(state, { sessionId: childId, agent: policy.agent, seq, status: 'running', startedAt: new Date().toISOString(), budget: given.budget });
  publish(s);
  const input: SessionInput = {
    agent: policy.agent,
    task,
    ...(state.userId ? { userId: state.userId } : {}),
    delegation: { delegationVersion: DELEGATION_VERSION, parentSessionId: s.sessionId, depth: delegationDepth(state) + 1, seq, budget: given.budget },
  };
  const attributes: SearchAttributePair[] = [
    { key: ParentSessionKey, value: s.sessionId },
    { key: SessionStatusKey, value: 'running' },
    { key: PendingApprovalsKey, value: 0 },
    { key: AgentNameKey, value: policy.agent },
    ...(state.userId ? [{ key: UserIdKey, value: state.userId }] : []),
  ];

  // Ending this session cancels the child: the scope is cancelled as soon as an end request arrives.
  const scope = new CancellationScope();
  let settled = false;
  condition(() => settled || s.endRequested !== undefined)
    .then(() => {
      if (!settled) scope.cancel();
    })
    .catch(() => undefined); // this session itself was cancelled: the scope is cancelled with it
  try {
    const r = await scope.run(async () => {
      const child = await startChild<AgentSessionFn>('agentSession', {
        workflowId: childId,
        args: [input],
        // Closing this session any other way (terminated, timed out) asks the child to cancel too.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        // A cancelled child has withdrawn its approvals and reported before this session goes on.
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { pendingApprovals: null },
        staticSummary: `sub-agent ${policy.agent} of ${s.sessionId}: ${task.slice(0, 120)}`,
        ...(spec.searchAttributes ? { typedSearchAttributes: attributes } : {}),
      });
      return child.result();
    });
    const used = totalsOfResult(r);
    if (r.finalAnswer !== undefined) {
      endChild(state, childId, { status: 'completed', used }, new Date());
      result(answerText(policy.agent, childId, r.finalAnswer, used), true);
    } else {
      const why = `ended without an answer${r.endReason ? ` (${r.endReason})` : ''}`;
      endChild(state, childId, { status: 'completed', used, error: why }, new Date());
      result(`Error: sub-agent '${policy.agent}' (session ${childId}) ${why}`, false);
    }
  } catch (err) {
    if (!(err instanceof TemporalFailure)) throw err; // a bug, not the child's failure: fail the task, retried
    const failed = childFailure(err, s.endRequested !== undefined);
    // What it used, when it could say (failed and cancelled children report before they close).
    const final = s.childFinals.get(childId);
    endChild(state, childId, { status: failed.status, ...(final ? { used: { steps: final.steps, usage: final.usage, costUsd: final.costUsd } } : {}), error: failed.text }, new Date());
    if (CancellationScope.current().consideredCancelled) throw err; // this session is being cancelled
    result(`Error: sub-agent '${policy.agent}' (session ${childId}) ${failed.text}`, false);
  } finally {
    settled = true;
    s.childReports.delete(childId);
    s.childFinals.delete(childId);
    publish(s);
  }
}

/** How a child that did not answer ended, as the parent's model and state show it. */
function childFailure(err: TemporalFailure, ending: boolean): { status: Exclude<ChildSession['status'], 'running' | 'completed'>; text: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof CancelledFailure) return { status: 'cancelled', text: ending ? 'was cancelled: this session is ending' : 'was cancelled' };
  if (cause instanceof TerminatedFailure) return { status: 'terminated', text: `was terminated${cause.message ? `: ${cause.message}` : ''}` };
  if (cause instanceof TimeoutFailure) return { status: 'timed_out', text: 'timed out' };
  if (err instanceof ChildWorkflowFailure) return { status: 'failed', text: `failed: ${cause?.message ?? err.message}` };
  return { status: 'failed', text: `could not be started: ${err.message}` };
}

/**
 * When a decision is about an approval a running child reported (not one of this session's own): the
 * child to forward it to and the record as reported.
 */
export function forwardFor(s: SessionRun, raw: unknown): { childId: string; record: ApprovalRecord } | undefined {
  if (s.childReports.size === 0 || typeof raw !== 'object' || raw === null) return undefined;
  const approvalId = (raw as { approvalId?: unknown }).approvalId;
  if (typeof approvalId !== 'string' || s.approvals.has(approvalId)) return undefined;
  return forwardTarget(s.childReports, approvalId);
}

/** What this session can refuse before forwarding: a malformed decision, one about other arguments. The child checks the rest. */
export function forwardProblem(target: { record: ApprovalRecord }, raw: unknown): string | undefined {
  const parsed = checkApprovalDecision(raw);
  if (!parsed.ok) return `malformed approval: ${parsed.problem}`;
  const d = parsed.value;
  if (d.argsHash !== undefined && d.argsHash !== target.record.argsHash) {
    return `argsHash does not match approval '${d.approvalId}': the decision was made about other arguments (or another policy version)`;
  }
  return undefined;
}

/**
 * Forwards a decision to the child that has the approval (or whose sub-agent has it) and waits for its
 * verdict: the decided record, or the child's reason for refusing (thrown, as a refused decision here is).
 */
export async function forwardDecision(s: SessionRun, target: { childId: string }, decision: ApprovalDecision, channel: 'signal' | 'update'): Promise<ApprovalRecord> {
  const { childId } = target;
  const ref = uuid4();
  try {
    await getExternalWorkflowHandle(childId).signal(delegatedDecisionSignal, { ref, decision, channel, from: s.sessionId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.nonRetryable(`sub-agent session ${childId} did not take the decision: ${err instanceof Error ? err.message : String(err)}`, 'DecisionNotApplied');
  }
  const answered = await condition(() => s.forwarded.has(ref) || !isRunningChild(s.state, childId), FORWARD_ANSWER_TIMEOUT_MS);
  const outcome = s.forwarded.get(ref);
  s.forwarded.delete(ref);
  if (!outcome) {
    throw ApplicationFailure.nonRetryable(
      answered
        ? `sub-agent session ${childId} ended before it answered; its state shows whether the decision applied`
        : `no answer from sub-agent session ${childId} within ${FORWARD_ANSWER_TIMEOUT_MS / 1000} s; its state shows whether the decision applied`,
      'DecisionNotApplied',
    );
  }
  if (!outcome.ok || !outcome.record) throw ApplicationFailure.nonRetryable(`refused by sub-agent session ${childId}: ${outcome.problem ?? 'no reason given'}`, 'DecisionRefused');
  return outcome.record;
}
