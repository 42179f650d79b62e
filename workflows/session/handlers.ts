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
  delegatedDecisionSignal,
  endSignal,
  eventSignal,
  sendMessageUpdate,
  stateQuery,
  subAgentReportSignal,
  type SubAgentReport,
  topUpBudgetUpdate,
} from '../messages';
import { LIMITS } from '../limits';
import { pageTranscript } from '../transcript';
import { bounded, checkBudgetTopUp, checkChatMessage, checkEndRequest, checkExternalEvent, checkForwardedDecision, checkSubAgentReport } from '../validate';
import type { ApprovalRecord, ChatReply, DecisionProvenance } from '../types';
import { authorizeDecision } from '../approval-auth';
import { checkToolArgs, local } from './activities';
import { addGrant, approvePendingByGrant, decisionProblem, grantFor, recordDecision } from './approvals';
import { addTopUp, limitsInForce } from './budget';
import { capBudget, isRunningChild, reportedApprovals, takeReport } from './delegation';
import { forwardDecision, forwardFor, forwardProblem } from './delegate-call';
import { reportToParent } from './parent-report';
import { publish } from './publish';
import type { SessionRun } from './run';
import { isClosed } from './status';
import { acceptEvent } from './waits';

/** Chat messages accepted and not yet answered, per session. */
export const MAX_QUEUED_MESSAGES = 20;
/** Malformed or misdirected messages kept for operators (`state.rejectedMessages`). */
export const REJECTED_MESSAGES_KEPT = 50;
/** Top-ups kept in `state.topUps` (their sum is kept in full). */
export const TOP_UPS_KEPT = 50;

/** The agent's budget plus top-ups, as the state shows it and the loop enforces it. */
export function refreshBudget(s: SessionRun): void {
  // A sub-agent's own budget is lowered to the share its parent gave it (top-ups still add to it).
  s.state.budget = limitsInForce(capBudget(s.spec?.budget ?? {}, s.state.delegatedFrom?.budget), s.topUps);
}

/** A signal cannot answer its sender; keep the reason where operators look (state query, logs). */
export function rejectMessage(s: SessionRun, problem: string): void {
  const reason = bounded(problem, LIMITS.rejectionReasonChars);
  s.state.rejectedMessages.push({ at: new Date().toISOString(), reason });
  if (s.state.rejectedMessages.length > REJECTED_MESSAGES_KEPT) s.state.rejectedMessages.shift();
  log.warn('message ignored', { reason });
}

/**
 * Why a decision cannot apply (a string), or who made it and how it came (when it can). With
 * `signed-approvals-v1`, the agent's approval policy decides too (signature, group, separation of duties),
 * against workflow time: the same verdict on every replay.
 */
function checkDecision(s: SessionRun, raw: unknown, channel: 'signal' | 'update'): string | DecisionProvenance | undefined {
  const problem = decisionProblem(s.approvals, raw, s.state.sessionGrants);
  if (problem) return problem;
  if (!s.signedApprovals) return undefined;
  const d = raw as ApprovalDecision; // checked by decisionProblem
  const auth = authorizeDecision(d, s.approvals.get(d.approvalId)!, s.spec?.approvals.auth, { channel, now: Date.now(), sessionUserId: s.state.userId });
  return auth.ok ? auth.provenance : auth.problem;
}

/**
 * Decides an approval of this session, or forwards the decision to the sub-agent that asked (whose answer
 * comes back). Throws the reason when the decision is refused, here or by the sub-agent.
 */
async function decideOrForward(s: SessionRun, raw: unknown, channel: 'signal' | 'update', forwardedBy?: string): Promise<ApprovalRecord> {
  const target = forwardFor(s, raw);
  if (target) {
    const problem = forwardProblem(target, raw);
    if (problem) throw ApplicationFailure.nonRetryable(problem, 'DecisionRefused');
    return forwardDecision(s, target, raw as ApprovalDecision, channel);
  }
  const checked = checkDecision(s, raw, channel);
  if (typeof checked === 'string') throw ApplicationFailure.nonRetryable(checked, 'DecisionRefused');
  return applyDecision(s, raw as ApprovalDecision, checked && forwardedBy ? { ...checked, forwardedBy } : checked);
}

async function applyDecision(s: SessionRun, decision: ApprovalDecision, decidedBy: DecisionProvenance | undefined): Promise<ApprovalRecord> {
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
  if (decidedBy) record.decidedBy = decidedBy;
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

  setHandler(stateQuery, (opts) => ({ ...state, ...pageTranscript(state.transcript, opts) }), {
    description: 'The session: status, usage, budget, pending and decided approvals, the newest transcript entries (page with {transcriptBefore, transcriptLimit}).',
  });
  setHandler(
    approvalSignal,
    async (raw) => {
      try {
        // A sub-agent's approval: forwarded there; a refusal is recorded here as well as there.
        if (forwardFor(s, raw)) return void (await decideOrForward(s, raw, 'signal'));
        const checked = checkDecision(s, raw, 'signal');
        if (typeof checked === 'string') return rejectMessage(s, checked);
        await applyDecision(s, raw, checked);
      } catch (err) {
        if (isCancellation(err)) throw err;
        rejectMessage(s, err instanceof Error ? err.message : String(err));
      }
    },
    { description: 'Decide a pending approval (fire and forget): {approvalId, decision: approve|reject, approver, argsHash?, comment?, editedArgs?, scope?, keyId?, signature?, expiresAt?}. A refused decision changes nothing; its reason is in the state query (rejectedMessages).' },
  );
  setHandler(
    decideApprovalUpdate,
    async (decision) => {
      try {
        if (forwardFor(s, decision)) return await decideOrForward(s, decision, 'update');
        // Checked again: the validator's answer is not kept, and the provenance is recorded from this check.
        const checked = checkDecision(s, decision, 'update');
        if (typeof checked === 'string') throw ApplicationFailure.nonRetryable(checked, 'DecisionRefused');
        return await applyDecision(s, decision, checked);
      } catch (err) {
        if (err instanceof ApplicationFailure || isCancellation(err)) throw err;
        throw ApplicationFailure.nonRetryable(err instanceof Error ? err.message : String(err), 'DecisionNotApplied');
      }
    },
    {
      validator: (raw) => {
        // A sub-agent's approval: what can be seen here is checked here, the rest by the sub-agent (its policy).
        const target = forwardFor(s, raw);
        if (target) {
          const problem = forwardProblem(target, raw);
          if (problem) throw new Error(problem);
          return;
        }
        const checked = checkDecision(s, raw, 'update');
        if (typeof checked === 'string') throw new Error(checked);
      },
      description: "Decide a pending approval and get the decided record back. Refused decisions (unknown id, other arguments, bad or missing signature, not in the asked group, own session) are rejected by the validator and leave nothing in history. A sub-agent's approval (listed here with its sessionId) is forwarded to it and decided under its policy; its refusal fails the Update.",
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
      description: 'Chat sessions: send {text}; returns the reply, or the approval or budget pause the turn stopped on.',
    },
  );
  setHandler(
    topUpBudgetUpdate,
    (t) => {
      const add = addTopUp(s.topUps, t);
      // afterSeq and total let a fork carry exactly the top-ups given up to its fork point (activities/fork.ts).
      state.topUps.push({ at: new Date().toISOString(), approver: t.approver.trim(), add, ...(t.comment ? { comment: t.comment } : {}), afterSeq: s.ledger.nextSeq - 1, total: { ...s.topUps } });
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
      description: 'Raise the budget: {approver, addSteps?, addTokens?, addCostUsd?, comment?}; returns the new limits. A session paused on its budget resumes.',
    },
  );
  setHandler(
    endSignal,
    (raw) => {
      const parsed = checkEndRequest(raw);
      if (!parsed.ok) return rejectMessage(s, `malformed end request: ${parsed.problem}`);
      s.endRequested = parsed.value;
    },
    { description: 'End the session after the current step: {reason?, by?}. Pending approvals are withdrawn.' },
  );
  setHandler(
    subAgentReportSignal,
    (raw) => {
      const parsed = checkSubAgentReport(raw);
      if (!parsed.ok) return rejectMessage(s, `malformed sub-agent report: ${parsed.problem}`);
      const r: SubAgentReport = parsed.value;
      // A report that arrives after its child ended (reports are not ordered with the child's close) is stale.
      if (!isRunningChild(state, r.sessionId)) return log.info('report of a sub-agent that is not running here ignored', { child: r.sessionId });
      if (r.outcome) s.forwarded.set(r.outcome.ref, r.outcome);
      if (r.final) s.childFinals.set(r.sessionId, r.final);
      if (takeReport(s.childReports, r)) publish(s);
    },
    { description: 'Sent by sub-agents (child sessions) only: their pending approvals, what they used when they end without a result, answers to forwarded decisions.' },
  );
  setHandler(
    delegatedDecisionSignal,
    async (raw) => {
      const parsed = checkForwardedDecision(raw);
      if (!parsed.ok) return rejectMessage(s, `malformed forwarded decision: ${parsed.problem}`);
      const { ref, decision, channel, from } = parsed.value;
      let outcome: NonNullable<SubAgentReport['outcome']>;
      try {
        // Checked here exactly as if it had been sent here (signature, group, separation of duties).
        const record = await decideOrForward(s, decision, channel, from);
        outcome = { ref, ok: true, record: reportedApprovals(s.sessionId, [record])[0] };
      } catch (err) {
        if (isCancellation(err)) throw err;
        const problem = bounded(err instanceof Error ? err.message : String(err), LIMITS.rejectionReasonChars);
        rejectMessage(s, `decision forwarded by ${from}: ${problem}`);
        outcome = { ref, ok: false, problem };
      }
      // The answer goes to this session's parent (which forwarded it), before this session can close.
      await reportToParent(s, { outcome });
    },
    { description: "A decision about one of this session's approvals, forwarded by the session that delegated to it: {ref, decision, channel, from}. Checked like a decision sent here; the verdict goes back to the parent." },
  );
  setHandler(
    eventSignal,
    (raw) => {
      const parsed = checkExternalEvent(raw);
      if (!parsed.ok) return rejectMessage(s, `malformed event: ${parsed.problem}`);
      if (closed()) return rejectMessage(s, `event '${parsed.value.name}' arrived after the session was ${state.status}`);
      const problem = acceptEvent(state, s.spec ? (s.spec.waits?.events ?? []) : undefined, parsed.value, new Date());
      if (problem) return rejectMessage(s, problem);
    },
    { description: "An external event for wait_for_event: {name, payload?, id?} (name as listed in the agent's waits.events, payload JSON up to 16 KiB). Refused events are in the state query (rejectedMessages)." },
  );
}
