/**
 * The worker's copy of recent sessions' transcripts, so a model call reads only the messages added since
 * the previous call instead of the whole transcript (a read per step that grew with the session).
 *
 * Sound because the store is append-only by (session, seq) and a session writes every message below a
 * model call's seq before that call reads (pending messages first, tool results and summaries by
 * activities that completed earlier): once messages below `upTo` have been read they never change and
 * none is added. Another worker may have run some steps in between; it wrote to the same store, so the
 * delta read picks its messages up. A read below `upTo` (a rewound session) reloads from the store.
 */
import type { SessionStore, StoredMessage } from './types';

interface Cached {
  upTo: number;
  messages: StoredMessage[];
  count: number;
}

export class TranscriptCache {
  private readonly sessions = new Map<string, Cached>();
  private total = 0;

  constructor(
    private readonly store: SessionStore,
    /** Messages held across all sessions; least recently used sessions are dropped first. */
    private readonly maxMessages = 50_000,
  ) {}

  /** Messages of the session with seq < beforeSeq, in seq order. The array is shared: do not mutate it. */
  async list(sessionId: string, beforeSeq: number): Promise<readonly StoredMessage[]> {
    let entry = this.sessions.get(sessionId);
    if (entry) this.drop(sessionId);
    if (!entry || beforeSeq < entry.upTo) {
      const messages = await this.store.list(sessionId, { beforeSeq });
      entry = { upTo: beforeSeq, messages, count: messages.length };
    } else if (beforeSeq > entry.upTo) {
      const added = await this.store.list(sessionId, { fromSeq: entry.upTo, beforeSeq });
      entry = { upTo: beforeSeq, messages: entry.messages.concat(added), count: entry.count + added.length };
    }
    this.sessions.set(sessionId, entry);
    this.total += entry.count;
    for (const [id] of this.sessions) {
      if (this.total <= this.maxMessages || id === sessionId) break;
      this.drop(id);
    }
    return entry.messages;
  }

  /** Forget a session (e.g. it was rewritten by another process). */
  drop(sessionId: string): void {
    const entry = this.sessions.get(sessionId);
    if (!entry) return;
    this.total -= entry.count;
    this.sessions.delete(sessionId);
  }
}
