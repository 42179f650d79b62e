/** Serialisable types shared by workflow, activities and clients. No runtime code beyond types. */
import type { ModelMessage } from './model-messages';

export type { AssistantMessage, ModelMessage, ModelToolCall, SystemMessage, ToolResultMessage, UserMessage } from './model-messages';
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  approval: 'never' | 'always' | 'conditional';
  effects: 'none' | 'read' | 'write';
  timeoutMs: number;
  maxAttempts: number;
  /** 'local': a local activity in the session's worker; 'activity': a regular activity. Absent in specs of older workers: regular. */
  runAs?: 'local' | 'activity';
  /**
   * Built-in tools the workflow itself carries out (no activity): a durable timer, a wait for an external
   * event, a task delegated to another agent (a child session, `delegate_to_<agent>`).
   */
  builtin?: 'wait' | 'wait_for_event' | 'delegate';
}

/** An agent this agent may delegate to (`defineAgent({ delegates })`), as the workflow enforces it. */
export interface DelegateSpec {
  /** The registered agent a call starts a child session of. */
  agent: string;
  /** The tool the model calls: `delegate_to_<agent>`. */
  tool: string;
  /** The share (0 < share <= 1) of the parent's remaining budget the child gets when it starts. */
  budgetShare: number;
}

/**
 * Set by the parent when it starts a session as its sub-agent (a child workflow); never by clients.
 * Versioned like a fork request (a child may start on an older worker).
 */
export interface DelegationRequest {
  delegationVersion: number;
  parentSessionId: string;
  /** 1 for a child of a session started by a client, 2 for its child, ... (at most LIMITS.delegationDepth). */
  depth: number;
  /** The parent's seq of the delegate call (the child's id is derived from it). */
  seq: number;
  /** The share of the parent's budget given at delegation; the child's own agent budget applies where it is lower or this says nothing. */
  budget: Budget;
}

/** What a sub-agent used: its own model steps and those of its sub-agents, tokens and cost (sub-agents included). */
export interface DelegatedTotals {
  steps: number;
  usage: TokenUsage;
  costUsd: number;
}

/** A child session this session delegated to (state query, carried across continue-as-new). */
export interface ChildSession {
  sessionId: string;
  agent: string;
  /** This session's seq of the delegate call. */
  seq: number;
  status: 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out';
  startedAt: string;
  /** The budget the child was given (a share of this session's remaining budget). */
  budget: Budget;
  endedAt?: string;
  /** What it used (rolled up into this session's usage and cost); absent when it ended without saying. */
  used?: DelegatedTotals;
  /** Why it did not answer. */
  error?: string;
}

/** Sub-agents of a session: counts, what finished children used, the newest children. */
export interface DelegationState {
  /** Children started in this session (all runs). */
  started: number;
  /** What finished children used: already included in the session's usage and costUsd; their steps count against its maxSteps. */
  used: DelegatedTotals;
  /** Running children and the newest finished ones (at most DELEGATION_CHILDREN_KEPT finished). */
  children: ChildSession[];
}

/** What an agent may wait for (`defineAgent({ waits })`), as the workflow enforces it. */
export interface WaitPolicy {
  /** The longest single wait, in milliseconds. */
  maxWaitMs: number;
  /** External events the model may wait for and senders may send. */
  events: string[];
}

/** An external event the session accepted and no `wait_for_event` has taken yet. */
export interface ReceivedEvent {
  name: string;
  payload?: unknown;
  id?: string;
  receivedAt: string;
}

/** A `wait` or `wait_for_event` call in progress (state query, Web UI current details). */
export interface ActiveWait {
  seq: number;
  tool: 'wait' | 'wait_for_event';
  /** The event waited for (wait_for_event). */
  event?: string;
  since: string;
  until: string;
  reason?: string;
}

export interface Budget {
  maxSteps?: number;
  maxTokens?: number;
  maxCostUsd?: number;
}

export interface ApprovalRouting {
  /** Who is asked first (a label shown to operators and kept on the record). */
  group: string;
  /** How long the first group has to decide. */
  timeoutMs: number;
  /** Asked in turn when the previous level's deadline passes; after the last one the call is denied. */
  escalation: Array<{ group: string; timeoutMs: number }>;
  /** Who may decide (absent: anyone who names themselves; the behaviour before signed approvals). */
  auth?: ApprovalAuthPolicy;
}

/** An Ed25519 public key that may sign decisions (workflows/approval-auth.ts). */
export interface ApproverKey {
  keyId: string;
  /** Raw 32-byte public key, 64 lowercase hex digits. */
  publicKey: string;
  /** The approver this key signs for; absent: a service key (e.g. the HTTP API) that signs for any member. */
  identity?: string;
}

/** The part of an agent's approval policy the workflow enforces, resolved on the worker from the approver directory. */
export interface ApprovalAuthPolicy {
  /** Unsigned decisions are refused. */
  requireSignature: boolean;
  /** The user who started a session may not decide its approvals. */
  separationOfDuties: boolean;
  /** Group -> member identities; absent: groups are not enforced. */
  members?: Record<string, string[]>;
  keys: ApproverKey[];
}

/** How a decision arrived and who made it, as the workflow established it. */
export interface DecisionProvenance {
  identity: string;
  /** The key whose signature was verified (absent: an unsigned decision). */
  keyId?: string;
  /** The decision was sent to this (delegating) session, which forwarded it to the asking sub-agent. */
  forwardedBy?: string;
  verified: boolean;
  /** What the sender said it came through (http, cli, service), else the channel. */
  via: 'http' | 'cli' | 'service' | 'signal' | 'update';
  /** How it reached the workflow. */
  channel: 'signal' | 'update';
}

export interface AgentSpec {
  name: string;
  version: string;
  instructions: string;
  model: string;
  tools: ToolSpec[];
  budget: Budget;
  /** USD per million tokens for the agent's model (0 when unknown). */
  pricing: { inputPerMTokUsd: number; outputPerMTokUsd: number };
  approvals: ApprovalRouting;
  /** Chat sessions end after this long without a message. */
  idleTimeoutMs: number;
  /** First attempt of a model call as a local activity with this timeout; 0 or absent: regular activity only. */
  localModelTimeoutMs?: number;
  /** Tool calls of one model turn that run at the same time (the rest wait their turn). */
  maxParallelToolCalls?: number;
  /** Start a fresh run (continue-as-new) after this many model steps, besides when Temporal suggests it. */
  continueAsNewEverySteps?: number;
  memory?: { recallK: number; summarizeAtEnd: boolean; keepRecentMessages: number; contextBudgetTokens?: number };
  /** Present when the agent has the built-in `wait` / `wait_for_event` tools. */
  waits?: WaitPolicy;
  /** Agents this agent may delegate to; each is a `delegate_to_<agent>` tool in `tools`. */
  delegates?: DelegateSpec[];
}

/** What the worker adds to the agent's spec at the start of a run. */
export interface RunSpec extends AgentSpec {
  searchAttributes: boolean;
  heartbeatTimeoutMs: number;
  sandboxMode: string;
  /** A notifier (webhook) is configured on the worker: approval requests schedule `notifyApproval`. Absent in specs recorded before it (then: notify). */
  notify?: boolean;
}

export type SessionStatus =
  | 'running'
  | 'awaiting_approval'
  | 'awaiting_input'
  | 'budget_exhausted'
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface SessionInput {
  /** Registered agent name. */
  agent: string;
  /** 'task' (default): one task, ends with the final answer. 'chat': stays open between user messages. */
  mode?: 'task' | 'chat';
  /** The task (task mode) or an optional first message (chat mode). */
  task?: string;
  userId?: string;
  /** Set by the session itself when it continues as a new run; never by callers. */
  carry?: CarriedState;
  /** Set by `fork`/`resume` (client/fork.ts): this session starts as the parent's state at a past step. */
  fork?: ForkRequest;
  /** Set by a parent session that started this one as its sub-agent (`delegate_to_<agent>`). */
  delegation?: DelegationRequest;
}

/** Where a fork starts: the parent and its last shared seq. Versioned like a carry (a fork may start on an older worker). */
export interface ForkRequest {
  forkVersion: number;
  parentSessionId: string;
  /** The parent's last entry the fork shares; absent: the parent's last stored entry (resume). */
  atSeq?: number;
}

/**
 * The parent's state at the fork point, read from the session store by the fork's first activity
 * (activities/fork.ts) and turned into a carry by the workflow (session/fork.ts).
 */
export interface ForkPoint {
  /** The parent's last shared seq (resolved when the request left it open). */
  atSeq: number;
  /** The first seq of the fork's own entries. */
  nextSeq: number;
  /** Model turns in the prefix. */
  steps: number;
  /** Tokens of the model turns and compaction summaries in the prefix. */
  usage: TokenUsage;
  /** The newest prefix entries, as the state query shows them. */
  transcript: TranscriptEntry[];
  /** The last model turn's tool calls that have no result in the prefix (they run in the fork, under their seqs). */
  openCalls: Array<{ seq: number; call: CheckedToolCall }>;
  /** The prefix ends with the assistant's final answer (nothing is left to do without new input). */
  answered: boolean;
  context?: { fromSeq: number; summarySeq?: number };
  lastPromptTokens: number;
  /**
   * What happened to the workspace: 'restored' from a snapshot of the parent's workspace at (or, when that is
   * missing, before) the fork point; 'copied': the parent's workspace as it is now (no snapshots to restore
   * from; older workers always did this); 'none': empty (nothing had been written by the fork point).
   */
  workspace: 'restored' | 'copied' | 'none';
  /** How the workspace was restored (absent in forks made by workers before workspace snapshots). */
  workspaceDetail?: ForkWorkspaceDetail;
  /** The parent's approve-for-session grants and budget top-ups as of the fork point (absent: older worker). */
  carried?: ForkCarried;
}

/** Where a fork's workspace came from (activities/fork.ts, runtime/workspace-snapshots.ts). */
export interface ForkWorkspaceDetail {
  /**
   * 'snapshot': the snapshot taken after the tool call at `seq` (the newest usable one at or before the fork
   * point); 'empty': no tool had changed the workspace by the fork point; 'current': the parent's workspace
   * as it is when the fork is made (the parent has no snapshots, or they are off).
   */
  from: 'snapshot' | 'empty' | 'current';
  seq?: number;
  /** The session whose snapshot it is: the parent, or an ancestor for a seq before the parent's own fork point. */
  session?: string;
  files: number;
  bytes: number;
  /** Present when the workspace may differ from the parent's at the fork point: how, and why. */
  inexact?: string;
}

/** The parent's grants and top-ups that were in force at the fork point. */
export interface ForkCarried {
  /** Grants decided on calls at or before the fork point (an approval's seq is its call's). */
  sessionGrants: SessionGrant[];
  /** Top-ups given while the parent's last seq was at or before the fork point. */
  topUps: SessionState['topUps'];
  /** Their sum, added to the agent's budget in the fork. */
  topUpTotal: Budget;
  /** Present when the parent's grants or top-ups could not all be placed: what was not carried, and why. */
  note?: string;
}

/** A message the workflow created, waiting for the next activity to store it under its seq. */
export interface PendingMessage {
  seq: number;
  /** Neutral messages; runs carried over before the provider seam may hold OpenAI chat shapes (migrated on read). */
  message: ModelMessage | Record<string, unknown>;
  meta?: Record<string, unknown>;
}

/**
 * What a session hands to its next run: references and counters, not the transcript. Versioned: a run
 * migrates carries of older versions first (workflows/session/carry.ts).
 */
export interface CarriedState {
  /** Absent in carries written before versioning (version 1). */
  carryVersion?: number;
  state: SessionState;
  nextSeq: number;
  pending: PendingMessage[];
  inbox: ChatMessageIn[];
  /** Compaction state: the model's context starts at `fromSeq`, preceded by the summary at `summarySeq`. */
  context?: { fromSeq: number; summarySeq?: number };
  lastPromptTokens: number;
  topUps: Budget;
  needInput: boolean;
}

export interface ChatMessageIn {
  id: string;
  text: string;
}

export interface ChatReply {
  messageId: string;
  status: SessionStatus;
  /** The assistant's answer to this message (absent when the turn stopped on an approval or the budget). */
  reply?: string;
  pendingApprovals: ApprovalRecord[];
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** A tool call the model asked for, checked on the worker against the agent's tools. */
export interface CheckedToolCall {
  id: string;
  name: string;
  /** Parsed arguments (canonical JSON object) when valid; the raw string otherwise. */
  args: unknown;
  /** Why the call cannot run (unknown tool, arguments not JSON or not matching the schema). */
  error?: string;
  /** Present when a human must approve this call before it runs. */
  approval?: { reason: string; argsHash: string; policyVersion: string };
  /** One-line description for the Web UI, e.g. `send_decision(applicant A-1001)`. */
  summary: string;
}

export interface ModelTurn {
  seq: number;
  content: string | null;
  toolCalls: CheckedToolCall[];
  usage: TokenUsage;
  model: string;
  /**
   * Results of the calls the model activity ran itself, by index in `toolCalls` (null: not run there), under
   * seq `seq + 1 + index`: short read-only tools named in the call's `eagerTools` (see activities, callModel).
   */
  eager?: Array<ToolRunResult | null>;
}

export interface ToolRunResult {
  /** The tool returned normally (false: it threw; the error text went to the model). */
  ok: boolean;
  /** First part of the result as the model sees it (the full text is in the session store). */
  preview: string;
  bytes: number;
}

export interface ApprovalRecord {
  approvalId: string;
  seq: number;
  toolCallId: string;
  tool: string;
  args: unknown;
  argsHash: string;
  policyVersion: string;
  reason: string;
  requestedAt: string;
  deadline: string;
  status: 'pending' | 'approved' | 'rejected' | 'expired' | 'withdrawn';
  /** The group currently asked; changes on escalation. */
  approverGroup: string;
  escalations: Array<{ at: string; from: string; to: string }>;
  approver?: string;
  /** Who decided, with which key and how the decision arrived (sessions with signed-approvals-v1). */
  decidedBy?: DecisionProvenance;
  comment?: string;
  decidedAt?: string;
  /** The arguments as the model proposed them, when the approver edited them. */
  originalArgs?: unknown;
  /** 'session': the approver approved this tool for the rest of the session; 'grant': approved by such a grant, nobody was asked. */
  scope?: 'session' | 'grant';
  /**
   * A sub-agent's approval, shown by a session that delegated to it: the session that asked. Decisions sent
   * to the delegating session are forwarded there, and checked there.
   */
  sessionId?: string;
  /** The arguments were too large to show through the delegating session (the asking session has them whole). */
  argsElided?: boolean;
}

/**
 * "Approve for the rest of this session": later calls of `tool` under the same policy version run
 * without asking. Kept on the state (carried across continue-as-new), at most LIMITS.sessionGrants.
 */
export interface SessionGrant {
  tool: string;
  policyVersion: string;
  approver: string;
  /** The approval whose decision granted it. */
  approvalId: string;
  grantedAt: string;
  comment?: string;
}

export interface TranscriptEntry {
  seq: number;
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** Text, or a preview of it for tool results (the full message is in the session store). */
  text: string | null;
  toolCalls?: Array<{ id: string; name: string; args: unknown; error?: string }>;
  toolCallId?: string;
  tool?: string;
  ok?: boolean;
  /** 'memory': memories recalled at session start; 'summary': a compaction summary standing in for older turns. */
  kind?: 'memory' | 'summary';
  /** For tool calls that needed approval: who decided what. */
  approval?: { status: ApprovalRecord['status']; approver?: string; comment?: string; edited?: boolean };
}

export interface SessionState {
  sessionId: string;
  agent: string;
  status: SessionStatus;
  mode: 'task' | 'chat';
  userId?: string;
  /** Model calls completed (counted from completed activities only: retries never double count). */
  steps: number;
  usage: TokenUsage;
  costUsd: number;
  /** The limits in force: the agent's budget plus top-ups. */
  budget: Budget;
  budgetExhausted?: string;
  /**
   * The last top-ups (TOP_UPS_KEPT). `afterSeq`: the session's last seq when it was given; `total`: the sum
   * of all top-ups up to and including it (both absent on top-ups recorded by older workers). Forks use them
   * to carry the top-ups given up to their fork point.
   */
  topUps: Array<{ at: string; approver: string; add: Budget; comment?: string; afterSeq?: number; total?: Budget }>;
  /** Run number (1 + continue-as-new count). */
  run: number;
  sandboxMode?: string;
  /** Seq of the first entry kept in `transcript` (older ones are in the session store). */
  transcriptFrom: number;
  /** Automatic memory: what was recalled at start, written at the end, and how often the context was compacted. */
  memory?: { recalled: string[]; episodeId?: string; factIds?: string[]; compactions: number; errors?: string[] };
  pendingApprovals: ApprovalRecord[];
  approvals: ApprovalRecord[];
  /** Tools approved for the rest of the session (absent until an approver grants one). */
  sessionGrants?: SessionGrant[];
  transcript: TranscriptEntry[];
  /** State query only: entries of this run not in `transcript` (page with `transcriptBefore`). */
  transcriptOmitted?: number;
  finalAnswer?: string;
  endReason?: string;
  error?: string;
  /** External events received and not yet taken by a `wait_for_event` (at most LIMITS.bufferedEvents). */
  events?: ReceivedEvent[];
  /** Ids of the last events taken or buffered (a re-sent event with a known id is ignored). */
  eventIds?: string[];
  /** Waits in progress (`wait`, `wait_for_event`). */
  waiting?: ActiveWait[];
  /** Signals that were malformed or named no pending approval; kept so operators can see them. */
  rejectedMessages: Array<{ at: string; reason: string }>;
  /** A fork (or resume): the parent session and its last shared seq. */
  forkedFrom?: {
    sessionId: string;
    atSeq: number;
    workspace: 'restored' | 'copied' | 'none';
    workspaceDetail?: ForkWorkspaceDetail;
    /** What was carried from the parent's state at the fork point (absent in forks started before patch fork-state-v1). */
    carried?: { grants: number; topUps: number; note?: string };
  };
  /** A sub-agent: the session that delegated to it, its depth, and the budget it was given. `reports` counts what it told the parent. */
  delegatedFrom?: { sessionId: string; depth: number; seq: number; budget: Budget; reports: number };
  /** Sub-agents this session delegated to (absent until the first). */
  delegation?: DelegationState;
}

export interface SessionResult {
  status: SessionStatus;
  finalAnswer?: string;
  /** The session's own model steps (its sub-agents' are in `delegated`). */
  steps: number;
  /** Tokens and cost of the session, its sub-agents' included. */
  usage: TokenUsage;
  costUsd: number;
  endReason?: string;
  /** What its sub-agents used (already part of usage and costUsd); absent when it delegated nothing. */
  delegated?: DelegatedTotals & { children: number };
}
