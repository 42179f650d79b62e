/**
 * The session store: each session's transcript, append-only, keyed by (session id, sequence number).
 * Activities write it idempotently (a retried or replayed write of the same seq is ignored), so
 * workflow history carries references and each message at most once, not the growing transcript.
 */
import type { ModelMessage } from '../../workflows/model-messages';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export interface StoredMessage {
  sessionId: string;
  seq: number;
  /**
   * A neutral `ModelMessage` (system/user/assistant/tool). Sessions stored before the provider seam hold
   * OpenAI Chat Completions messages; read them through `toModelMessage` (runtime/model/messages.ts).
   */
  message: Record<string, unknown>;
  /** Runtime bookkeeping for the entry (usage, validated tool calls, approval record...). */
  meta: Record<string, unknown> | null;
  createdAt: string;
}

export interface NewMessage {
  seq: number;
  message: ModelMessage | Record<string, unknown>;
  meta?: Record<string, unknown> | null;
}

export interface SessionStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Inserts entries; an entry whose (session, seq) exists already is left as it is. */
  append(sessionId: string, entries: NewMessage[]): Promise<void>;
  get(sessionId: string, seq: number): Promise<StoredMessage | undefined>;
  /** Entries in seq order, optionally within [fromSeq, beforeSeq). */
  list(sessionId: string, range?: { fromSeq?: number; beforeSeq?: number }): Promise<StoredMessage[]>;
  /** Number of entries and total bytes stored for a session. */
  stats(sessionId: string): Promise<{ count: number; bytes: number }>;
  close(): Promise<void>;
}
