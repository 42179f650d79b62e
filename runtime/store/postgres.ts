import { Pool } from 'pg';
import type { NewMessage, ParentLink, StoreEngine, StoredMessage } from './types';

interface Row {
  session_id: string;
  seq: number;
  message: Record<string, unknown>;
  meta: Record<string, unknown> | null;
  created_at: Date;
}

/** For deployments with workers on several machines: the same contract on PostgreSQL. */
export class PostgresSessionStore implements StoreEngine {
  readonly kind = 'postgres' as const;
  private readonly pool: Pool;
  private ready: Promise<void>;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: 5 });
    // An idle connection dropped by the server (restart, failover) must not crash the worker; the pool reconnects.
    this.pool.on('error', (err) => console.warn(`[session-store] idle PostgreSQL connection lost: ${err.message}`));
    this.ready = this.pool
      .query(
        `CREATE TABLE IF NOT EXISTS session_messages (
          session_id TEXT NOT NULL,
          seq INTEGER NOT NULL,
          message JSONB NOT NULL,
          meta JSONB,
          created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
          PRIMARY KEY (session_id, seq))`,
      )
      // A fork's parent prefix: one row per fork, written once (runtime/store/links.ts).
      .then(() =>
        this.pool.query(
          `CREATE TABLE IF NOT EXISTS session_links (
            session_id TEXT PRIMARY KEY,
            parent_id TEXT NOT NULL,
            before_seq INTEGER NOT NULL,
            format INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
        ),
      )
      .then(() => undefined);
  }

  async append(sessionId: string, entries: NewMessage[]): Promise<void> {
    await this.ready;
    if (entries.length === 0) return;
    const values: unknown[] = [];
    const rows = entries.map((e, i) => {
      values.push(sessionId, e.seq, JSON.stringify(e.message), e.meta ? JSON.stringify(e.meta) : null);
      return `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}::jsonb, $${i * 4 + 4}::jsonb)`;
    });
    await this.pool.query(
      `INSERT INTO session_messages (session_id, seq, message, meta) VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING`,
      values,
    );
  }

  async get(sessionId: string, seq: number): Promise<StoredMessage | undefined> {
    await this.ready;
    const r = await this.pool.query<Row>('SELECT * FROM session_messages WHERE session_id = $1 AND seq = $2', [sessionId, seq]);
    return r.rows[0] && toStored(r.rows[0]);
  }

  async list(sessionId: string, range: { fromSeq?: number; beforeSeq?: number } = {}): Promise<StoredMessage[]> {
    await this.ready;
    const r = await this.pool.query<Row>(
      'SELECT * FROM session_messages WHERE session_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq',
      [sessionId, range.fromSeq ?? 0, range.beforeSeq ?? 2_147_483_647],
    );
    return r.rows.map(toStored);
  }

  async writeLink(sessionId: string, link: ParentLink & { format: number }): Promise<void> {
    await this.ready;
    await this.pool.query(
      'INSERT INTO session_links (session_id, parent_id, before_seq, format) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [sessionId, link.parentId, link.beforeSeq, link.format],
    );
  }

  async readLink(sessionId: string): Promise<(ParentLink & { format: number }) | undefined> {
    await this.ready;
    const r = await this.pool.query<{ parent_id: string; before_seq: number; format: number }>(
      'SELECT parent_id, before_seq, format FROM session_links WHERE session_id = $1',
      [sessionId],
    );
    const row = r.rows[0];
    return row && { parentId: row.parent_id, beforeSeq: row.before_seq, format: row.format };
  }

  async stats(sessionId: string): Promise<{ count: number; bytes: number }> {
    await this.ready;
    const r = await this.pool.query<{ count: string; bytes: string }>(
      'SELECT count(*) AS count, coalesce(sum(length(message::text) + coalesce(length(meta::text),0)),0) AS bytes FROM session_messages WHERE session_id = $1',
      [sessionId],
    );
    return { count: Number(r.rows[0].count), bytes: Number(r.rows[0].bytes) };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function toStored(r: Row): StoredMessage {
  return { sessionId: r.session_id, seq: r.seq, message: r.message, meta: r.meta, createdAt: r.created_at.toISOString() };
}
