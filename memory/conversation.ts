/**
 * Storing a conversation as memories: one record per turn, so recall can point at the exact turn,
 * with the neighbouring turns and the session date as lower-weight search context. A single turn is
 * often unsearchable on its own ("Yes, last Saturday!" answers a question asked in the turn before),
 * and questions about time name dates the turn itself never says.
 */
import type { MemoryKind, MemoryWriteInput, Provenance } from './types';

export interface ConversationTurn {
  speaker: string;
  text: string;
  /** When the turn (or its session) happened, in any human-readable form; indexed as context. */
  date?: string | null;
  metadata?: Record<string, unknown>;
}

export interface ConversationRecordOptions {
  namespace: string;
  provenance: Provenance;
  kind?: MemoryKind;
  /** Turns before and after each turn indexed as its context. Default 1 (the previous and the next turn). */
  window?: number;
  /** Characters of each neighbouring turn kept in the context. Default 300. */
  neighbourChars?: number;
  /** False: no context at all (turn text only). Default true. */
  context?: boolean;
}

export function conversationRecords(turns: ConversationTurn[], opts: ConversationRecordOptions): MemoryWriteInput[] {
  const window = opts.window ?? 1;
  const cap = opts.neighbourChars ?? 300;
  const line = (t: ConversationTurn) => `${t.speaker}: ${t.text.length > cap ? `${t.text.slice(0, cap)}...` : t.text}`;
  return turns.map((t, i) => {
    const parts: string[] = [];
    if (opts.context !== false) {
      if (t.date) parts.push(t.date);
      for (let j = Math.max(0, i - window); j <= Math.min(turns.length - 1, i + window); j++) if (j !== i) parts.push(line(turns[j]));
    }
    return {
      namespace: opts.namespace,
      kind: opts.kind ?? 'episode',
      text: `${t.speaker}: ${t.text}`,
      ...(parts.length > 0 ? { context: parts.join('\n') } : {}),
      metadata: { ...(t.metadata ?? {}), ...(t.date ? { date: t.date } : {}), speaker: t.speaker },
      provenance: opts.provenance,
    };
  });
}
