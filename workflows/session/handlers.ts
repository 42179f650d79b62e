/**
 * The session's message handlers: state query, approval decisions (signal and Update), chat messages,
 * budget top-ups and end. No handler may fail a workflow task: everything a caller sends is checked
 * first (validate.ts), and any error while applying it is recorded (signals) or returned (Updates).
 */
import { ApplicationFailure, condition, isCancellation, log, setHandler, uuid4 } from '@temporalio/workflow';
import {
  type ApprovalDecision,
  approvalSignal,
  decideApprovalUpdate,
  endSignal,
  sendMessageUpdate,
  stateQuery,
  topUpBudgetUpdate,
} from '../messages';
import { LIMITS } from '../limits';
import { pageTranscript } from '../transcript';
import { bounded, checkBudgetTopUp, checkChatMessage, checkEndRequest } from '../validate';
import type { ApprovalRecord, ChatReply } from '../types';
import { checkToolArgs, local } from './activities';
import { addGrant, approvePendingByGrant, decisionProblem, grantFor, recordDecision } from './approvals';
import { addTopUp, limitsInForce } from './budget';
import { publish } from './publish';
import type { SessionRun } from './run';
import { isClosed } from './status';

/** Chat messages accepted and not yet answered, per session. */
export const MAX_QUEUED_MESSAGES = 20;
/** Malformed or misdirected messages kept for operators (`state.rejectedMessages`). */
export const REJECTED_MESSAGES_KEPT = 50;
/** Top-ups kept in `state.topUps` (their sum is kept in full). */
export const TOP_UPS_KEPT = 50;

/** The agent's budget plus top-ups, as the state shows it and the loop enforces it. */
export function refreshBudget(s: SessionRun): void {
  s.state.budget = limitsInForce(s.spec?.budget ?? {}, s.topUps);
}

/** A signal cannot answer its sender; keep the reason where operators look (state query, logs). */
export function rejectMessage(s: SessionRun, problem: string): void {
  const reason = bounded(problem, LIMITS.rejectionReasonChars);
  s.state.rejectedMessages.push({ at: new Date().toISOString(), reason });
  if (s.state.rejectedMessages.length > REJECTED_MESSAGES_KEPT) s.state.rejectedMessages.shift();
  log.warn('message ignored', { reason });
}

async function applyDecision(s: SessionRun, decision: ApprovalDecision): Promise<ApprovalRecord> {
  const record = s.approvals.get(decision.approvalId)!;
  let edited: unknown;
  if (decision.editedArgs !== undefined) {
    const toolArgs = { agent: s.state.agent, name: record.tool, args: decision.editedArgs };
    const checked = s.localSteps ? await local.checkToolArgs(toolArgs) : await checkToolArgs(toolArgs);
    if (checked.error) throw ApplicationFailure.nonRetryable(`edited arguments refused: ${checked.error}`, 'InvalidEditedArguments');
    // Another decision may have landed while the arguments were being checked.
    if (record.status !== 'pending') throw ApplicationFailure.nonRetryable(`approval '${record.approvalId}' is already ${record.status}`);
    edited = checked.args;
  }
  recordDecision(record, decision, new Date(), edited);
  if (record.scope === 'session') {
    addGrant(s.state, record, new Date());
    approvePendingByGrant(s.approvals.values(), grantFor(s.state.sessionGrants, record)!, new Date());
  }
  publish(s);
  return record;
}

export function installHandlers(s: SessionRun): void {
  const { state } = s;
  const closed = (): boolean => isClosed(state.status);

  setHandler(stateQuery, (opts) => ({ ...state, ...pageTranscript(state.transcript, opts) }));
  setHandler(approvalSignal, async (raw) => {
    try {
      const problem = decisionProblem(s.approvals, raw, s.state.sessionGrants);
      if (problem) return rejectMessage(s, problem);
      await applyDecision(s, raw);
    } catch (err) {
      if (isCancellation(err)) throw err;
      rejectMessage(s, err instanceof Error ? err.message : String(err));
    }
  });
  setHandler(
    decideApprovalUpdate,
    async (decision) => {
      try {
        return await applyDecision(s, decision);
      } catch (err) {
        if (err instanceof ApplicationFailure || isCancellation(err)) throw err;
        throw ApplicationFailure.nonRetryable(err instanceof Error ? err.message : String(err), 'DecisionNotApplied');
      }
    },
    {
      validator: (raw) => {
        const problem = decisionProblem(s.approvals, raw, s.state.sessionGrants);
        if (problem) throw new Error(problem);
      },
    },
  );
  setHandler(
    sendMessageUpdate,
    async (msg): Promise<ChatReply> => {
      const id = uuid4();
      s.inbox.push({ id, text: msg.text });
      await condition(
        () => s.replies.has(id) || closed() || (s.currentMessageId === id && (state.status === 'awaiting_approval' || state.status === 'budget_exhausted')),
      );
      return s.replies.get(id) ?? { messageId: id, status: state.status, pendingApprovals: state.pendingApprovals };
    },
    {
      validator: (raw) => {
        const parsed = checkChatMessage(raw);
        if (!parsed.ok) throw new Error(`malformed message: ${parsed.problem}`);
        if (s.mode !== 'chat') throw new Error('this session is in task mode; start a chat session to send messages');
        if (closed() || s.endRequested) throw new Error(`session is ${s.endRequested ? 'ending' : state.status}`);
        if (s.inbox.length >= MAX_QUEUED_MESSAGES) throw new Error(`too many queued messages (${s.inbox.length}); wait for replies`);
      },
    },
  );
  setHandler(
    topUpBudgetUpdate,
    (t) => {
      const add = addTopUp(s.topUps, t);
      state.topUps.push({ at: new Date().toISOString(), approver: t.approver.trim(), add, ...(t.comment ? { comment: t.comment } : {}) });
      if (state.topUps.length > TOP_UPS_KEPT) state.topUps.shift();
      refreshBudget(s);
      return state.budget;
    },
    {
      validator: (raw) => {
        const parsed = checkBudgetTopUp(raw);
        if (!parsed.ok) throw new Error(`malformed top-up: ${parsed.problem}`);
        if (closed()) throw new Error(`session is ${state.status}`);
      },
    },
  );
  setHandler(endSignal, (raw) => {
    const parsed = checkEndRequest(raw);
    if (!parsed.ok) return rejectMessage(s, `malformed end request: ${parsed.problem}`);
    s.endRequested = parsed.value;
  });
}
