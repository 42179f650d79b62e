/**
 * Operator/client access to long-term memory: search and forget by namespace or session. Opens the
 * same store the workers use (MEMORY_URL: a SQLite file or a postgres:// URL).
 */
import { openMemoryStore, type MemoryHit, type MemoryKind, type MemoryStore } from '../memory';
import { loadConfig } from '../runtime/config';

export async function openMemory(url: string = loadConfig().MEMORY_URL): Promise<MemoryStore> {
  return openMemoryStore(url);
}

export interface MemorySearch {
  query: string;
  /** e.g. `user/alice`; `namespacePrefix` matches `user/` and below. */
  namespace?: string;
  namespacePrefix?: string;
  kinds?: MemoryKind[];
  k?: number;
  /** What the agent knew at that time. */
  asOf?: Date;
}

export async function searchMemories(store: MemoryStore, q: MemorySearch): Promise<MemoryHit[]> {
  return store.search({
    query: q.query,
    k: q.k ?? 10,
    ...(q.namespace ? { namespace: q.namespace } : {}),
    ...(q.namespacePrefix ? { namespacePrefix: q.namespacePrefix } : {}),
    ...(q.kinds ? { kinds: q.kinds } : {}),
    ...(q.asOf ? { asOf: { at: q.asOf } } : {}),
  });
}

/** Forgets a namespace (e.g. everything about a user) and, transitively, every summary derived from it. */
export async function forgetNamespace(store: MemoryStore, namespace: string, reason?: string): Promise<string[]> {
  return (await store.forgetNamespace(namespace, reason ? { reason } : {})).forgotten;
}

/** Forgets everything a session wrote and what was derived from it. */
export async function forgetSessionMemories(store: MemoryStore, sessionId: string, reason?: string): Promise<string[]> {
  return (await store.forgetSession(sessionId, reason ? { reason } : {})).forgotten;
}
