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

/** A fork's reference to its parent's transcript: the parent's entries with seq < beforeSeq are the fork's too. */
export interface ParentLink {
  parentId: string;
  beforeSeq: number;
}

/** The raw link table of a store (runtime/store/links.ts resolves reads through it). */
export interface LinkTable {
  /** Records the link once; an existing link of the session is left as it is. */
  writeLink(sessionId: string, link: ParentLink & { format: number }): Promise<void>;
  readLink(sessionId: string): Promise<(ParentLink & { format: number }) | undefined>;
}

export interface SessionStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Inserts entries; an entry whose (session, seq) exists already is left as it is. */
  append(sessionId: string, entries: NewMessage[]): Promise<void>;
  get(sessionId: string, seq: number): Promise<StoredMessage | undefined>;
  /** Entries in seq order, optionally within [fromSeq, beforeSeq). */
  list(sessionId: string, range?: { fromSeq?: number; beforeSeq?: number }): Promise<StoredMessage[]>;
  /** Number of entries and total bytes stored for a session (its own entries, not a parent prefix). */
  stats(sessionId: string): Promise<{ count: number; bytes: number }>;
  /** Makes the parent's entries below `beforeSeq` the start of this session's transcript (forks). */
  link(sessionId: string, link: ParentLink): Promise<void>;
  /** The session's parent link, if it is a fork. */
  parentOf(sessionId: string): Promise<ParentLink | undefined>;
  close(): Promise<void>;
}

/** What a store engine provides; links.ts and format.ts turn it into a SessionStore. */
export type StoreEngine = Omit<SessionStore, 'link' | 'parentOf'> & LinkTable;
