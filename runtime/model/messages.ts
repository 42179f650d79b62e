/**
 * Reading stored messages as neutral `ModelMessage`s. Sessions stored before the provider seam (and
 * pending messages carried across continue-as-new by older runs) hold OpenAI Chat Completions messages
 * (`tool_calls`, `tool_call_id`, content parts); they are migrated here, at the edge, on every read, so
 * old transcripts keep loading and nothing has to be rewritten in the store.
 */
import type { ModelMessage, ModelToolCall } from '../../workflows/model-messages';

/** Text of a content value: a string, or (legacy) an array of `{ type: 'text', text }` parts. */
function textOf(content: unknown): string | null {
  if (content == null) return null;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
  return JSON.stringify(content);
}

function toolCallsOf(m: Record<string, unknown>): ModelToolCall[] {
  if (Array.isArray(m.toolCalls)) {
    return (m.toolCalls as Array<Partial<ModelToolCall>>).map((c) => ({ id: String(c.id ?? ''), name: String(c.name ?? ''), arguments: String(c.arguments ?? '') }));
  }
  if (Array.isArray(m.tool_calls)) {
    // Legacy OpenAI shape: { id, type: 'function', function: { name, arguments } }.
    return (m.tool_calls as Array<{ id?: unknown; function?: { name?: unknown; arguments?: unknown } }>).map((c) => ({
      id: String(c.id ?? ''),
      name: String(c.function?.name ?? ''),
      arguments: String(c.function?.arguments ?? ''),
    }));
  }
  return [];
}

/** A stored message (neutral or legacy OpenAI chat shape) as a neutral message. */
export function toModelMessage(stored: Record<string, unknown>): ModelMessage {
  const role = stored.role;
  switch (role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: textOf(stored.content) ?? '' };
    case 'user':
      return { role: 'user', content: textOf(stored.content) ?? '' };
    case 'assistant': {
      const toolCalls = toolCallsOf(stored);
      return { role: 'assistant', content: textOf(stored.content), ...(toolCalls.length ? { toolCalls } : {}) };
    }
    case 'tool':
      return { role: 'tool', toolCallId: String(stored.toolCallId ?? stored.tool_call_id ?? ''), content: textOf(stored.content) ?? '' };
    default:
      throw new Error(`stored message has unknown role ${JSON.stringify(role)}: expected system, user, assistant or tool`);
  }
}

/** A neutral message as a store record (the store keeps JSON objects). */
export function toStoredMessage(message: ModelMessage): Record<string, unknown> {
  return { ...message };
}
