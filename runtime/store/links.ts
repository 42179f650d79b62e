/**
 * Forks share their parent's transcript instead of copying it: a fork has one link row (parent id, and
 * the first seq that is the fork's own), and every read of the fork resolves through it. Entries below
 * the link's `beforeSeq` come from the parent (and, for a fork of a fork, from its parent in turn);
 * entries from `beforeSeq` on are the fork's own. Nothing of the parent is copied or changed.
 *
 * Links are written once and never change, so a worker may keep them in memory. Whether a session has no
 * link is cached too: a fork's link is the first thing written for its id (the fork's first activity),
 * before anything reads or writes the fork's transcript.
 */
import type { ParentLink, SessionStore, StoreEngine, StoredMessage } from './types';

/** The link format this runtime writes and reads (a newer one is refused, like newer entries). */
export const LINK_FORMAT = 1;
/** Forks of forks of ...: reads walk the chain, so it is bounded. */
export const MAX_FORK_DEPTH = 64;

const NO_LINK = null;
const MAX_CACHED = 10_000;

export class StoreLinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreLinkError';
  }
}

/** A SessionStore over an engine: reads of forks include the parent prefix, writes below it are refused. */
export function withParentPrefix(engine: StoreEngine): SessionStore {
  const cache = new Map<string, ParentLink | typeof NO_LINK>();

  async function parentOf(sessionId: string): Promise<ParentLink | undefined> {
    const hit = cache.get(sessionId);
    if (hit !== undefined) return hit ?? undefined;
    const row = await engine.readLink(sessionId);
    if (row && row.format > LINK_FORMAT) {
      throw new StoreLinkError(
        `session ${sessionId} has a parent link in format ${row.format}; this worker reads link formats up to ${LINK_FORMAT}: deploy the newer worker version`,
      );
    }
    if (cache.size >= MAX_CACHED) cache.clear();
    const link = row ? { parentId: row.parentId, beforeSeq: row.beforeSeq } : undefined;
    cache.set(sessionId, link ?? NO_LINK);
    return link;
  }

  async function list(sessionId: string, range: { fromSeq?: number; beforeSeq?: number } = {}, depth = 0): Promise<StoredMessage[]> {
    const link = await parentOf(sessionId);
    if (!link) return engine.list(sessionId, range);
    if (depth >= MAX_FORK_DEPTH) throw new StoreLinkError(`session ${sessionId}: fork chain deeper than ${MAX_FORK_DEPTH}`);
    const from = range.fromSeq ?? 0;
    const before = range.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const inherited = from < link.beforeSeq ? await list(link.parentId, { fromSeq: from, beforeSeq: Math.min(before, link.beforeSeq) }, depth + 1) : [];
    // An open end stays open (each engine has its own "no upper bound").
    const own = before > link.beforeSeq ? await engine.list(sessionId, { fromSeq: Math.max(from, link.beforeSeq), ...(range.beforeSeq !== undefined ? { beforeSeq: before } : {}) }) : [];
    return inherited.concat(own);
  }

  async function get(sessionId: string, seq: number, depth = 0): Promise<StoredMessage | undefined> {
    const link = await parentOf(sessionId);
    if (!link || seq >= link.beforeSeq) return engine.get(sessionId, seq);
    if (depth >= MAX_FORK_DEPTH) throw new StoreLinkError(`session ${sessionId}: fork chain deeper than ${MAX_FORK_DEPTH}`);
    return get(link.parentId, seq, depth + 1);
  }

  return {
    get kind() {
      return engine.kind;
    },
    async append(sessionId, entries) {
      const link = await parentOf(sessionId);
      const below = link && entries.find((e) => e.seq < link.beforeSeq);
      // The prefix belongs to the parent: a write there would be invisible (reads go to the parent), so it is a bug.
      if (below) throw new StoreLinkError(`session ${sessionId} is a fork of ${link.parentId} below seq ${link.beforeSeq}; entry ${below.seq} cannot be written there`);
      return engine.append(sessionId, entries);
    },
    get: (sessionId, seq) => get(sessionId, seq),
    list: (sessionId, range) => list(sessionId, range),
    stats: (sessionId) => engine.stats(sessionId),
    parentOf,
    async link(sessionId, link) {
      if (!Number.isInteger(link.beforeSeq) || link.beforeSeq < 0) throw new StoreLinkError(`fork point must be a seq >= 0, got ${link.beforeSeq}`);
      // Walk up from the parent: the chain must be finite and must not pass through the fork itself.
      let at: string | undefined = link.parentId;
      for (let depth = 0; at !== undefined; depth++) {
        if (at === sessionId) throw new StoreLinkError(`session ${sessionId} cannot be a fork of itself (through ${link.parentId})`);
        if (depth >= MAX_FORK_DEPTH - 1) throw new StoreLinkError(`session ${link.parentId} is already ${MAX_FORK_DEPTH - 1} forks deep; fork an earlier session`);
        at = (await parentOf(at))?.parentId;
      }
      const own = await engine.list(sessionId, { beforeSeq: link.beforeSeq });
      if (own.length > 0) throw new StoreLinkError(`session ${sessionId} already has entries below seq ${link.beforeSeq}; only a new session can be a fork`);
      cache.delete(sessionId);
      await engine.writeLink(sessionId, { ...link, format: LINK_FORMAT });
      cache.delete(sessionId);
      const written = await parentOf(sessionId);
      // Idempotent for a retried activity; a different link recorded earlier is not silently replaced.
      if (!written || written.parentId !== link.parentId || written.beforeSeq !== link.beforeSeq) {
        throw new StoreLinkError(
          `session ${sessionId} is already a fork of ${written?.parentId} at seq ${written ? written.beforeSeq - 1 : '?'}; it cannot become a fork of ${link.parentId} at ${link.beforeSeq - 1}`,
        );
      }
    },
    close: () => engine.close(),
  };
}
