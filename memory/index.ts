/**
 * Long-term memory for agents. SQLite by default (one file, no server); PostgreSQL when several
 * workers share memory. Both implement `MemoryStore` with identical semantics (one test suite runs
 * against both).
 */
import { PostgresMemoryStore, type PostgresMemoryStoreOptions } from './postgres';
import { SqliteMemoryStore, type SqliteMemoryStoreOptions } from './sqlite';
import type { MemoryStore, MemoryStoreCommonOptions } from './types';

export * from './types';
export { SqliteMemoryStore, type SqliteMemoryStoreOptions } from './sqlite';
export { PostgresMemoryStore, type PostgresMemoryStoreOptions } from './postgres';
export { memoryTools, type MemoryToolsOptions } from './tools';
export { conversationRecords, type ConversationTurn, type ConversationRecordOptions } from './conversation';
export { openAIEmbed, startLocalEmbeddingServer, LOCAL_EMBEDDING_MODEL, type LocalEmbeddingServer } from './embeddings';
export { CONTEXT_WEIGHT, DEFAULT_FUSION } from './query';

export const DEFAULT_MEMORY_PATH = '.data/memory.sqlite';

/**
 * Opens the store named by `url`: `postgres://` / `postgresql://` URLs select PostgreSQL, anything
 * else is a SQLite file path. Default: MEMORY_DATABASE_URL, else `.data/memory.sqlite`.
 */
export async function openMemoryStore(
  url: string = process.env.MEMORY_DATABASE_URL || DEFAULT_MEMORY_PATH,
  opts: MemoryStoreCommonOptions & Pick<PostgresMemoryStoreOptions, 'schema' | 'vector'> & Pick<SqliteMemoryStoreOptions, 'synchronous'> = {},
): Promise<MemoryStore> {
  const common = { embed: opts.embed, clock: opts.clock, fusion: opts.fusion, contextWeight: opts.contextWeight };
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return PostgresMemoryStore.open({ connectionString: url, ...common, schema: opts.schema, vector: opts.vector });
  }
  return SqliteMemoryStore.open({ path: url, ...common, synchronous: opts.synchronous });
}
