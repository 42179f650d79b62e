/** Serialisable types shared by workflow, activities and clients. No runtime code beyond types. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
  approval: 'never' | 'always' | 'conditional';
  effects: 'none' | 'read' | 'write';
  timeoutMs: number;
  maxAttempts: number;
}

export interface AgentSpec {
  name: string;
  version: string;
  instructions: string;
  model: string;
  tools: ToolSpec[];
  budget: { maxSteps?: number; maxTokens?: number; maxCostUsd?: number };
  approvalTimeoutMs: number;
}

export type SessionStatus =
  | 'running'
  | 'awaiting_approval'
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface SessionInput {
  /** Registered agent name. */
  agent: string;
  /** The task for the agent (the first user message). */
  task: string;
  userId?: string;
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
  status: 'pending' | 'approved' | 'rejected' | 'expired';
  approver?: string;
  comment?: string;
  decidedAt?: string;
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
}

export interface SessionState {
  sessionId: string;
  agent: string;
  status: SessionStatus;
  /** Model calls completed. */
  steps: number;
  usage: TokenUsage;
  pendingApprovals: ApprovalRecord[];
  approvals: ApprovalRecord[];
  transcript: TranscriptEntry[];
  finalAnswer?: string;
  error?: string;
  /** Signals that were malformed or named no pending approval; kept so operators can see them. */
  rejectedMessages: Array<{ at: string; reason: string }>;
}

export interface SessionResult {
  status: SessionStatus;
  finalAnswer?: string;
  steps: number;
  usage: TokenUsage;
}
