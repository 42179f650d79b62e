/**
 * The state of one workflow run of a session, shared by the loop's modules. Everything mutable about a
 * run is here, in one place, instead of in locals of one long closure. Types only.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { EndRequest } from '../messages';
import type { ApprovalRecord, Budget, CarriedState, ChatMessageIn, ChatReply, RunSpec, SessionInput, SessionState, SessionStatus } from '../types';
import type { Ledger } from './ledger';
import type { ChildReports } from './delegation';
import type { SubAgentReport } from '../messages';

export interface SessionRun {
  readonly input: SessionInput;
  readonly sessionId: string;
  readonly mode: 'task' | 'chat';
  /** Step shape of this run (patch `local-steps-v1`), decided once at its start. */
  readonly localSteps: boolean;
  /** Decisions authorized against the agent's approval policy (patch `signed-approvals-v1`), decided once at its start. */
  readonly signedApprovals: boolean;
  /** What the previous run handed on (migrated to the current carry version); absent in a session's first run. */
  readonly carry?: CarriedState;
  readonly state: SessionState;
  /** Every approval request of this run by id (also published as state.approvals). */
  readonly approvals: Map<string, ApprovalRecord>;
  /** Chat messages accepted by `sendMessage` and not yet taken by the loop. */
  readonly inbox: ChatMessageIn[];
  /** Answers to chat messages, by message id, picked up by the waiting `sendMessage` Update. */
  readonly replies: Map<string, ChatReply>;
  /** Sum of all top-ups (added to the agent's budget). */
  readonly topUps: Budget;
  readonly ledger: Ledger;
  /** Compaction state: the model's context starts at `fromSeq`, after the summary at `summarySeq`. */
  context?: { fromSeq: number; summarySeq?: number };
  lastPromptTokens: number;
  /** The chat message whose turn is running. */
  currentMessageId?: string;
  endRequested?: EndRequest;
  /** The agent's spec, learned at the start of the run. */
  spec?: RunSpec;
  /** Steps done before this run: continue-as-new every N steps counts from here. */
  readonly stepsAtRunStart: number;
  /** What search attributes and memo last said (see publish.ts); `reported`: the approvals last reported to a delegating parent. */
  readonly published: { status?: SessionStatus; pending: number; memo: string; once: SearchAttributeUpdatePair[]; reported?: string };
  /** Sub-agents: the newest report of each running child (its pending approvals), by child session id. */
  readonly childReports: ChildReports;
  /** What children said when they ended without a result (failed, cancelled), by child session id. */
  readonly childFinals: Map<string, NonNullable<SubAgentReport['final']>>;
  /** Children's answers to decisions this session forwarded to them, by ref. */
  readonly forwarded: Map<string, NonNullable<SubAgentReport['outcome']>>;
  /** Children started in the current model turn (LIMITS.delegationsPerTurn). */
  turnDelegations: number;
}
