/**
 * The transcript's messages in the runtime's own shape, not any provider's wire format. Providers convert
 * at the edge (runtime/model/*); the session store holds these. Types only: safe in the workflow bundle.
 */

/** A function call the model asked for; `arguments` is the model's raw JSON text (validated later). */
export interface ModelToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface SystemMessage {
  role: 'system';
  content: string;
}

export interface UserMessage {
  role: 'user';
  content: string;
}

export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  toolCalls?: ModelToolCall[];
}

export interface ToolResultMessage {
  role: 'tool';
  toolCallId: string;
  content: string;
}

export type ModelMessage = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage;
