import path from 'node:path';
import { PostgresSessionStore } from './postgres';
import { withStoreFormat } from './format';
import { withParentPrefix } from './links';
import { SqliteSessionStore } from './sqlite';
import type { SessionStore } from './types';

export type { NewMessage, ParentLink, SessionStore, StoredMessage } from './types';

/** Under the caller's working directory (never inside the installed package). */
export const DEFAULT_STORE_URL = `sqlite:${path.resolve('.data', 'sessions.sqlite')}`;

/**
 * `sqlite:<file>` (embedded default) or `postgres://...` (several worker machines). Entries are
 * versioned (format.ts): written with the current store format, read back migrated to it. Forks read
 * their parent's prefix through a link (links.ts).
 */
export function openSessionStore(url: string = process.env.AGENT_STORE_URL ?? DEFAULT_STORE_URL): SessionStore {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return withStoreFormat(withParentPrefix(new PostgresSessionStore(url)));
  if (url.startsWith('sqlite:')) return withStoreFormat(withParentPrefix(new SqliteSessionStore(url.slice('sqlite:'.length))));
  throw new Error(`AGENT_STORE_URL must start with sqlite: or postgres:// (got '${url}')`);
}
