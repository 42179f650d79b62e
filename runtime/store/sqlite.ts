import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { NewMessage, ParentLink, StoreEngine, StoredMessage } from './types';

interface Row {
  session_id: string;
  seq: number;
  message: string;
  meta: string | null;
  created_at: string;
}

function toStored(r: Row): StoredMessage {
  return {
    sessionId: r.session_id,
    seq: r.seq,
    message: JSON.parse(r.message) as Record<string, unknown>,
    meta: r.meta ? (JSON.parse(r.meta) as Record<string, unknown>) : null,
    createdAt: r.created_at,
  };
}

/** Embedded default: one SQLite file (WAL) shared by every worker process on the machine. */
export class SqliteSessionStore implements StoreEngine {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  // Prepared once: a model call and a tool call each read and write here on every step.
  private readonly selectOne: Database.Statement;
  private readonly appendAll: (sessionId: string, items: NewMessage[]) => void;
  private readonly selectRange: Database.Statement;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS session_messages (
      session_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      message TEXT NOT NULL,
      meta TEXT,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID`);
    // A fork's parent prefix: one row per fork, written once (runtime/store/links.ts).
    this.db.exec(`CREATE TABLE IF NOT EXISTS session_links (
      session_id TEXT PRIMARY KEY,
      parent_id TEXT NOT NULL,
      before_seq INTEGER NOT NULL,
      format INTEGER NOT NULL,
      created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
    ) WITHOUT ROWID`);
    this.insert = this.db.prepare(
      'INSERT INTO session_messages (session_id, seq, message, meta) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.appendAll = this.db.transaction((sessionId: string, items: NewMessage[]) => {
      for (const e of items) this.insert.run(sessionId, e.seq, JSON.stringify(e.message), e.meta ? JSON.stringify(e.meta) : null);
    });
    this.selectOne = this.db.prepare('SELECT * FROM session_messages WHERE session_id = ? AND seq = ?');
    this.selectRange = this.db.prepare('SELECT * FROM session_messages WHERE session_id = ? AND seq >= ? AND seq < ? ORDER BY seq');
  }

  async append(sessionId: string, entries: NewMessage[]): Promise<void> {
    if (entries.length === 0) return;
    this.appendAll(sessionId, entries);
  }

  async get(sessionId: string, seq: number): Promise<StoredMessage | undefined> {
    const row = this.selectOne.get(sessionId, seq) as Row | undefined;
    return row && toStored(row);
  }

  async list(sessionId: string, range: { fromSeq?: number; beforeSeq?: number } = {}): Promise<StoredMessage[]> {
    const rows = this.selectRange.all(sessionId, range.fromSeq ?? 0, range.beforeSeq ?? Number.MAX_SAFE_INTEGER) as Row[];
    return rows.map(toStored);
  }

  async writeLink(sessionId: string, link: ParentLink & { format: number }): Promise<void> {
    this.db
      .prepare('INSERT INTO session_links (session_id, parent_id, before_seq, format) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
      .run(sessionId, link.parentId, link.beforeSeq, link.format);
  }

  async readLink(sessionId: string): Promise<(ParentLink & { format: number }) | undefined> {
    const r = this.db.prepare('SELECT parent_id, before_seq, format FROM session_links WHERE session_id = ?').get(sessionId) as
      | { parent_id: string; before_seq: number; format: number }
      | undefined;
    return r && { parentId: r.parent_id, beforeSeq: r.before_seq, format: r.format };
  }

  async stats(sessionId: string): Promise<{ count: number; bytes: number }> {
    const r = this.db
      .prepare('SELECT count(*) AS count, coalesce(sum(length(message) + coalesce(length(meta),0)),0) AS bytes FROM session_messages WHERE session_id = ?')
      .get(sessionId) as { count: number; bytes: number };
    return r;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
