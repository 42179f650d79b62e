/**
 * Messages a session understands, shared by the workflow and every client (TS client, CLI, HTTP).
 * Plain types here: this module is bundled into the workflow, which checks payloads with the small
 * hand-written checks in `validate.ts`; the edges use the equivalent zod schemas in
 * `runtime/message-schemas.ts`. A malformed message changes nothing.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalRecord, ChatReply, DelegatedTotals, SessionState, SessionStatus } from './types';

export interface ApprovalDecision {
  approvalId: string;
  decision: 'approve' | 'reject';
  /** Who decides (kept on the record and in the transcript). */
  approver: string;
  comment?: string;
  /** The hash the approver was shown; a decision about other arguments is refused. */
  argsHash?: string;
  /** Approve with changed arguments (checked again against the tool's schema). Only with approve. */
  editedArgs?: Record<string, unknown>;
  /**
   * 'call' (default): this call only. 'session': also every later call of this tool in this session
   * under the same policy version, without asking again (carried across continue-as-new; at most
   * LIMITS.sessionGrants tools per session). Only with approve.
   */
  scope?: 'call' | 'session';
  /** Signing key named in the agent's approval policy (with `signature` and `expiresAt`). */
  keyId?: string;
  /** Ed25519 signature (128 hex digits) over the bytes of workflows/approval-auth.ts `decisionSigningBytes`. */
  signature?: string;
  /** ISO 8601 instant the signature stops being accepted (signed). */
  expiresAt?: string;
  /** Where the decision was made: 'http' (the API or inbox), 'cli' (agentctl), 'service' (another program). */
  via?: 'http' | 'cli' | 'service';
}

export interface ChatMessage {
  text: string;
}

export interface BudgetTopUp {
  approver: string;
  addSteps?: number;
  addTokens?: number;
  addCostUsd?: number;
  comment?: string;
}

export interface EndRequest {
  reason?: string;
  by?: string;
}

/**
 * Something that happened outside the session (a payment arrived, a document was signed), for a
 * `wait_for_event` call of the model. Names the agent allows (`waits.events`); others are refused.
 */
export interface ExternalEvent {
  /** 1-64 characters of a-z 0-9 _ . - (as listed in the agent's `waits.events`). */
  name: string;
  /** Any JSON, at most LIMITS.eventPayloadBytes; given to the model as the tool result. */
  payload?: unknown;
  /** The sender's id for the event (deduplication: an id seen before is ignored). */
  id?: string;
}

/** Paging of the transcript in the state query (the answer must stay far below gRPC's 4 MB). */
export interface StateQueryOptions {
  /** Entries with seq below this (default: the newest). */
  transcriptBefore?: number;
  /** At most this many entries (default and maximum: LIMITS.stateTranscriptEntries). */
  transcriptLimit?: number;
}

/**
 * What a sub-agent tells the session that delegated to it (workflow to workflow, never from clients): its
 * pending approvals whenever they change (the parent shows them as its own), and, when it fails or is
 * cancelled, what it used. Also the answer to a decision the parent forwarded.
 */
export interface SubAgentReport {
  /** The sub-agent's session id. */
  sessionId: string;
  /** Grows with every report of this sub-agent; an older report arriving late is ignored. */
  version: number;
  /** Its pending approvals, its own sub-agents' included (each with the `sessionId` that asked). */
  pendingApprovals: ApprovalRecord[];
  /** Sent when it ends without a result for the parent (failed, cancelled): what it used. */
  final?: DelegatedTotals & { status: SessionStatus; error?: string };
  /** The answer to a decision forwarded with `delegatedDecisionSignal`. */
  outcome?: { ref: string; ok: boolean; record?: ApprovalRecord; problem?: string };
}

/** A decision sent to a delegating session about a sub-agent's approval, forwarded to that sub-agent. */
export interface ForwardedDecision {
  /** The forwarding session's reference; the sub-agent answers with it (SubAgentReport.outcome). */
  ref: string;
  /** The decision exactly as the forwarding session got it (signature and all): the sub-agent checks it. */
  decision: ApprovalDecision;
  /** How the decision reached the first session. */
  channel: 'signal' | 'update';
  /** The session that forwarded it. */
  from: string;
}

/** Fire-and-forget decision (signal): invalid ones are recorded in `state.rejectedMessages` and ignored. */
export const approvalSignal = defineSignal<[ApprovalDecision]>('approval');
/** Decision with an answer (Update): invalid ones are rejected by the validator, nothing is written to history. */
export const decideApprovalUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('decideApproval');
/** Chat mode: returns when the turn ends (the reply), or stops on an approval or the budget. */
export const sendMessageUpdate = defineUpdate<ChatReply, [ChatMessage]>('sendMessage');
/** Raises the budget of a session (paused as `budget_exhausted` or not); returns the new limits. */
export const topUpBudgetUpdate = defineUpdate<SessionState['budget'], [BudgetTopUp]>('topUpBudget');
/** Ends the session after the current step (chat sessions, or a session paused on its budget). */
export const endSignal = defineSignal<[EndRequest]>('end');
/** An external event for `wait_for_event` (fire and forget; refused ones are in state.rejectedMessages). */
export const eventSignal = defineSignal<[ExternalEvent]>('event');
/** Sub-agent -> delegating session: pending approvals, end totals, answers to forwarded decisions. */
export const subAgentReportSignal = defineSignal<[SubAgentReport]>('subAgentReport');
/** Delegating session -> sub-agent: a decision about one of the sub-agent's approvals, checked by the sub-agent. */
export const delegatedDecisionSignal = defineSignal<[ForwardedDecision]>('delegatedDecision');
/** The session's state; the transcript is paged (newest entries first kept) so the answer stays small. */
export const stateQuery = defineQuery<SessionState, [StateQueryOptions?]>('state');
