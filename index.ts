/** `agent-runtime`: define agents and tools. Workers, clients and workflows have their own entry points. */
export { defineAgent, defineTool, DEFAULT_BUDGET } from './runtime/agent';
export type { AgentWaits } from './runtime/waits';
export type { AgentDelegate } from './runtime/delegates';
export type { AgentDefinition, AgentBudget, ToolDefinition, ToolContext, ToolLogger, ApprovalPolicy, ApprovalFunction } from './runtime/agent';
export type {
  AgentSpec,
  ApprovalRecord,
  Budget,
  ChatReply,
  SessionInput,
  SessionState,
  SessionResult,
  SessionStatus,
  TranscriptEntry,
} from './workflows/types';
