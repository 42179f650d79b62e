/**
 * The session store outlives deploys: an entry written by today's runtime may be read by a later one
 * (a session resumes, a model call reads the transcript). Every entry therefore carries the format it
 * was written in (`meta.storeFormat`; absent = 1, written before the field existed), and reads bring
 * older formats to the current one before anyone looks at them. An entry from a newer runtime is
 * refused with the reason rather than misread.
 *
 * Formats:
 *   1: messages are OpenAI Chat Completions messages; meta holds `turn` (ModelTurn) for assistant
 *      turns, `ok`/`tool` for tool results, `kind`/`compaction` for summaries, `pinned` for pinned messages.
 *   2: a session may start with a parent prefix (a fork: `session_links`, runtime/store/links.ts); entries
 *      are as in 1. Only a fork's own entries are written as 2: a runtime that knows no links would read a
 *      fork's transcript without its prefix, so it must refuse them. Other sessions' entries stay 1 (an
 *      older runtime still reads them after a rollback).
 */
import type { NewMessage, SessionStore, StoredMessage } from './types';

export const STORE_FORMAT = 2;
/** What entries of sessions without a parent link are written as (they need nothing format 2 added). */
export const UNLINKED_FORMAT = 1;

/** Thrown when an entry was written by a newer runtime than this worker's. */
export class StoreFormatError extends Error {
  constructor(sessionId: string, seq: number, format: unknown) {
    super(
      `session ${sessionId} entry ${seq} has store format ${JSON.stringify(format)}; this worker reads formats up to ${STORE_FORMAT}: deploy the newer worker version (or roll the store back)`,
    );
    this.name = 'StoreFormatError';
  }
}

/** The format an entry was written in (1 when it predates the field). */
export function storeFormatOf(entry: Pick<StoredMessage, 'meta'>): unknown {
  return entry.meta?.storeFormat ?? 1;
}

/** Brings a stored entry of any known format to the current one. */
export function migrateStored(entry: StoredMessage): StoredMessage {
  const format = storeFormatOf(entry);
  if (typeof format !== 'number' || !Number.isInteger(format) || format < 1 || format > STORE_FORMAT) {
    throw new StoreFormatError(entry.sessionId, entry.seq, format);
  }
  // 1 -> 2: entries are unchanged (format 2 only says the session may have a parent link). A format 3 adds its step here.
  return { ...entry, meta: { ...(entry.meta ?? {}), storeFormat: STORE_FORMAT } };
}

/** Stamps the current format on an entry about to be written. */
export function stampFormat(entry: NewMessage, format: number = STORE_FORMAT): NewMessage {
  return { ...entry, meta: { ...(entry.meta ?? {}), storeFormat: format } };
}

/** The store as the runtime uses it: writes stamped with the current format, reads migrated to it. */
export function withStoreFormat(store: SessionStore): SessionStore {
  return {
    get kind() {
      return store.kind;
    },
    append: async (sessionId, entries) => {
      const format = (await store.parentOf(sessionId)) ? STORE_FORMAT : UNLINKED_FORMAT;
      return store.append(sessionId, entries.map((e) => stampFormat(e, format)));
    },
    get: async (sessionId, seq) => {
      const entry = await store.get(sessionId, seq);
      return entry && migrateStored(entry);
    },
    list: async (sessionId, range) => (await store.list(sessionId, range)).map(migrateStored),
    stats: (sessionId) => store.stats(sessionId),
    link: (sessionId, link) => store.link(sessionId, link),
    parentOf: (sessionId) => store.parentOf(sessionId),
    close: () => store.close(),
  };
}
