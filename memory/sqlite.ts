/**
 * SQLite backend (default; one file per deployment). better-sqlite3 is synchronous, so every
 * transaction runs to completion without interleaving inside this process; BEGIN IMMEDIATE plus the
 * unique idempotency index make concurrent writers in other processes safe too. WAL lets readers
 * run alongside the single writer. Full-text search: FTS5 (porter stemming) ranked by bm25.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { BaseMemoryStore, type ForgetTarget, type LexicalHit, type VectorHit } from './base';
import { fts5Expression, recordFilters, searchFilters, SqlParams } from './query';
import {
  MEMORY_KINDS,
  MemoryError,
  type ForgetResult,
  type MemoryKind,
  type MemoryRecord,
  type MemoryStoreCommonOptions,
  type NormalizedForget,
  type NormalizedList,
  type NormalizedSearch,
  type NormalizedWrite,
} from './types';

export interface SqliteMemoryStoreOptions extends MemoryStoreCommonOptions {
  /** Database file (parent directories are created), or ':memory:'. */
  path: string;
  /**
   * 'FULL' (default): a write acknowledged to the caller survives power loss, which is what Temporal
   * assumes once an activity has completed. 'NORMAL': survives process crashes only; faster writes.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process's write lock. Default 10 s. */
  busyTimeoutMs?: number;
}

interface RecordRow {
  id: string;
  namespace: string;
  kind: string;
  text: string;
  metadata: string;
  session_id: string;
  run_id: string | null;
  step: number | null;
  tool_call_id: string | null;
  created_at: number;
  supersedes: string | null;
  deleted_at: number | null;
  derived_from: string;
  idempotency_key: string | null;
  context: string | null;
}

const COLUMNS =
  'm.id, m.namespace, m.kind, m.text, m.metadata, m.session_id, m.run_id, m.step, m.tool_call_id, ' +
  'm.created_at, m.supersedes, m.deleted_at, m.derived_from, m.idempotency_key, m.context';


const KIND_CHECK = MEMORY_KINDS.map((k) => `'${k}'`).join(', ');

/** Ordered, append-only: a database at version N has run exactly migrations[0..N-1]. */
export const MIGRATIONS: string[] = [
  `
  CREATE TABLE memory_ops (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('write', 'forget')),
    session_id TEXT, run_id TEXT, step INTEGER, tool_call_id TEXT,
    detail TEXT
  );
  CREATE INDEX memory_ops_at ON memory_ops (at);
  CREATE INDEX memory_ops_session ON memory_ops (session_id, step);

  CREATE TABLE memory_records (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    ns_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN (${KIND_CHECK})),
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    session_id TEXT NOT NULL, run_id TEXT, step INTEGER, tool_call_id TEXT,
    created_at INTEGER NOT NULL,
    created_op INTEGER NOT NULL,
    supersedes TEXT,
    deleted_at INTEGER,
    deleted_op INTEGER,
    derived_from TEXT NOT NULL DEFAULT '[]',
    idempotency_key TEXT UNIQUE,
    embedding BLOB
  );
  CREATE INDEX memory_records_ns ON memory_records (namespace, created_op);
  CREATE INDEX memory_records_session ON memory_records (session_id);
  CREATE INDEX memory_records_supersedes ON memory_records (supersedes) WHERE supersedes IS NOT NULL;

  -- Reverse index of derived_from, walked by the forget cascade.
  CREATE TABLE memory_derivations (
    source_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (source_id, record_id)
  ) WITHOUT ROWID;

  -- External-content FTS: the text is stored once, in memory_records. ns_key (one token per
  -- namespace) lets a namespace-scoped search intersect doclists inside FTS5 instead of scoring every
  -- match in the corpus and filtering afterwards: ~10x faster recall at 100k records.
  CREATE VIRTUAL TABLE memory_fts USING fts5(
    text, ns_key, content='memory_records', content_rowid='rid', tokenize='porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER memory_records_fts_insert AFTER INSERT ON memory_records BEGIN
    INSERT INTO memory_fts (rowid, text, ns_key) VALUES (new.rid, new.text, new.ns_key);
  END;
  -- Records are immutable apart from deletion marks; a hard delete (manual purge) must not desync the index.
  CREATE TRIGGER memory_records_fts_delete AFTER DELETE ON memory_records BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, text, ns_key) VALUES ('delete', old.rid, old.text, old.ns_key);
  END;
  `,
  // 2: search context (lower-weight text). FTS5 tables cannot gain columns: rebuild the index from the records.
  `
  ALTER TABLE memory_records ADD COLUMN context TEXT;
  DROP TRIGGER memory_records_fts_insert;
  DROP TRIGGER memory_records_fts_delete;
  DROP TABLE memory_fts;
  CREATE VIRTUAL TABLE memory_fts USING fts5(
    text, context, ns_key, content='memory_records', content_rowid='rid', tokenize='porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER memory_records_fts_insert AFTER INSERT ON memory_records BEGIN
    INSERT INTO memory_fts (rowid, text, context, ns_key) VALUES (new.rid, new.text, new.context, new.ns_key);
  END;
  CREATE TRIGGER memory_records_fts_delete AFTER DELETE ON memory_records BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, text, context, ns_key) VALUES ('delete', old.rid, old.text, old.context, old.ns_key);
  END;
  INSERT INTO memory_fts (memory_fts) VALUES ('rebuild');
  `,
];

/**
 * The namespace as a single FTS token: hex of a hash, ending in a digit so the porter stemmer leaves
 * it alone. Collisions only widen the FTS pre-filter; the SQL filter on `namespace` stays exact.
 */
export function namespaceKey(namespace: string): string {
  return `ns${createHash('sha256').update(namespace).digest('hex').slice(0, 24)}0`;
}

function encodeVector(v: number[]): Buffer {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

function decodeVector(b: Buffer): Float32Array {
  // Float32Array views need 4-byte alignment, which blobs handed over by SQLite do not guarantee.
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(Uint8Array.from(b).buffer);
}

function toRecord(r: RecordRow): MemoryRecord {
  return {
    id: r.id,
    namespace: r.namespace,
    kind: r.kind as MemoryKind,
    text: r.text,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    provenance: {
      sessionId: r.session_id,
      ...(r.run_id !== null ? { runId: r.run_id } : {}),
      ...(r.step !== null ? { step: r.step } : {}),
      ...(r.tool_call_id !== null ? { toolCallId: r.tool_call_id } : {}),
    },
    createdAt: new Date(r.created_at).toISOString(),
    supersedes: r.supersedes,
    deletedAt: r.deleted_at === null ? null : new Date(r.deleted_at).toISOString(),
    derivedFrom: JSON.parse(r.derived_from) as string[],
    idempotencyKey: r.idempotency_key,
    ...(r.context !== null ? { context: r.context } : {}),
  };
}

export class SqliteMemoryStore extends BaseMemoryStore {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;

  private constructor(db: Database.Database, opts: SqliteMemoryStoreOptions) {
    super(opts);
    this.db = db;
  }

  /** Opens (creating if needed) the database and applies pending migrations. */
  static async open(opts: SqliteMemoryStoreOptions): Promise<SqliteMemoryStore> {
    return SqliteMemoryStore.openSync(opts);
  }

  /** Synchronous variant for scripts and worker bootstrap code. */
  static openSync(opts: SqliteMemoryStoreOptions): SqliteMemoryStore {
    if (opts.path !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
    const db = new Database(opts.path);
    try {
      // busy_timeout first: the WAL switch and the migration both need locks another process may hold.
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
      migrate(db);
      registerFunctions(db);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteMemoryStore(db, opts);
  }

  /** The underlying connection, for diagnostics and tests (integrity checks). */
  get database(): Database.Database {
    return this.db;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close();
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      // Dynamic search SQL varies only by filter shape, so the cache stays small; cap it anyway.
      if (this.statements.size > 500) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private rowById(id: string): (RecordRow & { deleted_op: number | null }) | undefined {
    return this.stmt(`SELECT ${COLUMNS}, m.deleted_op FROM memory_records m WHERE m.id = ?`).get(id) as
      | (RecordRow & { deleted_op: number | null })
      | undefined;
  }

  private rowByKey(key: string): RecordRow | undefined {
    return this.stmt(`SELECT ${COLUMNS} FROM memory_records m WHERE m.idempotency_key = ?`).get(key) as RecordRow | undefined;
  }

  protected async findByKeys(keys: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const k of keys) if (this.rowByKey(k)) found.add(k);
    return found;
  }

  protected async insertBatch(items: NormalizedWrite[], embeddings: Array<number[] | null>): Promise<MemoryRecord[]> {
    const run = this.db.transaction(() => items.map((it, i) => this.insertOne(it, embeddings[i])));
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads first and then writes
    // can fail with SQLITE_BUSY instead of waiting when another process writes in between.
    return run.immediate();
  }

  private insertOne(it: NormalizedWrite, embedding: number[] | null): MemoryRecord {
    if (it.idempotencyKey !== undefined) {
      const existing = this.rowByKey(it.idempotencyKey);
      if (existing) return toRecord(existing);
    }
    if (it.supersedes !== undefined) {
      const target = this.rowById(it.supersedes);
      if (!target) throw new MemoryError('not_found', `supersedes: no memory record '${it.supersedes}'`);
      // Same namespace only: otherwise a writer could hide records in a namespace it cannot write to.
      if (target.namespace !== it.namespace) {
        throw new MemoryError('invalid_input', `supersedes: record '${it.supersedes}' is in namespace '${target.namespace}', not '${it.namespace}'`);
      }
    }
    const sources = [...new Set(it.derivedFrom)];
    for (const src of sources) {
      const row = this.rowById(src);
      if (!row) throw new MemoryError('not_found', `derivedFrom: no memory record '${src}'`);
      // Deriving from forgotten data would resurrect it in a record the cascade already ran past.
      if (row.deleted_op !== null) throw new MemoryError('conflict', `derivedFrom: record '${src}' has been forgotten`);
    }
    const now = this.clock();
    const p = it.provenance;
    const op = this.stmt(
      `INSERT INTO memory_ops (at, op, session_id, run_id, step, tool_call_id) VALUES (?, 'write', ?, ?, ?, ?)`,
    ).run(now, p.sessionId, p.runId ?? null, p.step ?? null, p.toolCallId ?? null);
    const seq = Number(op.lastInsertRowid);
    const id = randomUUID();
    this.stmt(
      `INSERT INTO memory_records (id, namespace, ns_key, kind, text, metadata, session_id, run_id, step, tool_call_id,
         created_at, created_op, supersedes, derived_from, idempotency_key, embedding, context)
       VALUES (@id, @namespace, @ns_key, @kind, @text, @metadata, @session_id, @run_id, @step, @tool_call_id,
         @created_at, @created_op, @supersedes, @derived_from, @idempotency_key, @embedding, @context)`,
    ).run({
      id,
      namespace: it.namespace,
      ns_key: namespaceKey(it.namespace),
      kind: it.kind,
      text: it.text,
      metadata: JSON.stringify(it.metadata),
      session_id: p.sessionId,
      run_id: p.runId ?? null,
      step: p.step ?? null,
      tool_call_id: p.toolCallId ?? null,
      created_at: now,
      created_op: seq,
      supersedes: it.supersedes ?? null,
      derived_from: JSON.stringify(sources),
      idempotency_key: it.idempotencyKey ?? null,
      embedding: embedding ? encodeVector(embedding) : null,
      context: it.context ?? null,
    });
    const link = this.stmt('INSERT INTO memory_derivations (source_id, record_id) VALUES (?, ?)');
    for (const src of sources) link.run(src, id);
    return {
      id,
      namespace: it.namespace,
      kind: it.kind,
      text: it.text,
      metadata: it.metadata,
      provenance: { ...p },
      createdAt: new Date(now).toISOString(),
      supersedes: it.supersedes ?? null,
      deletedAt: null,
      derivedFrom: sources,
      idempotencyKey: it.idempotencyKey ?? null,
      ...(it.context !== undefined ? { context: it.context } : {}),
    };
  }

  protected async getRecord(id: string): Promise<MemoryRecord | null> {
    const row = this.rowById(id);
    return row ? toRecord(row) : null;
  }

  protected async listRecords(namespace: string, o: NormalizedList, point: number | null): Promise<MemoryRecord[]> {
    const p = new SqlParams('sqlite');
    const where = recordFilters(p, 'memory_records', {
      point,
      includeSuperseded: o.includeSuperseded,
      includeDeleted: o.includeDeleted,
      namespace,
      kinds: o.kinds,
    });
    const sql = `SELECT ${COLUMNS} FROM memory_records m WHERE ${where.join(' AND ')} ORDER BY m.created_op, m.rid LIMIT ${p.add(o.limit)}`;
    return (this.stmt(sql).all(p.sqliteBindings()) as RecordRow[]).map(toRecord);
  }

  protected async lexicalSearch(q: NormalizedSearch, tokens: string[], point: number | null, limit: number): Promise<LexicalHit[]> {
    const p = new SqlParams('sqlite');
    let expr = `{text context} : (${fts5Expression(tokens)})`;
    if (q.namespace !== undefined) {
      const keys = (Array.isArray(q.namespace) ? q.namespace : [q.namespace]).map((ns) => `"${namespaceKey(ns)}"`);
      expr = `{ns_key} : (${keys.join(' OR ')}) AND ${expr}`;
    }
    const match = p.add(expr);
    const where = searchFilters(p, 'memory_records', q, point);
    const sql =
      `SELECT ${COLUMNS}, bm25(memory_fts, 1.0, ${this.contextWeight}, 0.0) AS rank FROM memory_fts JOIN memory_records m ON m.rid = memory_fts.rowid ` +
      `WHERE memory_fts MATCH ${match}${where.map((w) => ` AND ${w}`).join('')} ` +
      `ORDER BY rank, m.rid DESC LIMIT ${p.add(limit)}`;
    const rows = this.stmt(sql).all(p.sqliteBindings()) as Array<RecordRow & { rank: number }>;
    // bm25() is "lower is better" (negative); flip it so every score in the API is "higher is better".
    // (Weights: text 1, context contextWeight, ns_key 0 - the namespace token only filters, it must not score.)
    return rows.map((r) => ({ record: toRecord(r), score: -r.rank }));
  }

  protected async vectorSearch(q: NormalizedSearch, vector: number[], point: number | null, limit: number): Promise<VectorHit[]> {
    const p = new SqlParams('sqlite');
    const qv = p.add(encodeVector(vector));
    const where = searchFilters(p, 'memory_records', q, point);
    // Exact scan: fine for per-namespace memories up to ~1e5 records; an ANN index is future work.
    const sql =
      `SELECT * FROM (SELECT ${COLUMNS}, memory_cosine(m.embedding, ${qv}) AS sim FROM memory_records m ` +
      `WHERE m.embedding IS NOT NULL${where.map((w) => ` AND ${w}`).join('')}) WHERE sim IS NOT NULL ` +
      `ORDER BY sim DESC LIMIT ${p.add(limit)}`;
    const rows = this.stmt(sql).all(p.sqliteBindings()) as Array<RecordRow & { sim: number }>;
    return rows.map((r) => ({ record: toRecord(r), similarity: r.sim }));
  }

  protected async forgetTarget(target: ForgetTarget, o: NormalizedForget): Promise<ForgetResult> {
    let root: string;
    let args: unknown[];
    switch (target.by) {
      case 'id':
        if (!this.rowById(target.id)) throw new MemoryError('not_found', `no memory record '${target.id}'`);
        root = 'id = ?';
        args = [target.id];
        break;
      case 'namespace':
        root = 'namespace = ? OR substr(namespace, 1, length(?)) = ?';
        args = [target.namespace, `${target.namespace}/`, `${target.namespace}/`];
        break;
      case 'session':
        root = 'session_id = ?';
        args = [target.sessionId];
        break;
    }
    // The walk goes through already-deleted records too, so nothing derived from a doomed record survives.
    const cte =
      `WITH RECURSIVE doomed(id) AS (SELECT id FROM memory_records WHERE ${root} ` +
      `UNION SELECT d.record_id FROM memory_derivations d JOIN doomed ON d.source_id = doomed.id)`;
    const run = this.db.transaction((): ForgetResult => {
      const ids = this.stmt(
        `${cte} SELECT m.id FROM memory_records m WHERE m.id IN (SELECT id FROM doomed) AND m.deleted_op IS NULL ORDER BY m.rid`,
      )
        .pluck()
        .all(...args) as string[];
      if (ids.length === 0) return { forgotten: [] };
      const now = this.clock();
      const p = o.provenance;
      const detail = JSON.stringify({ target, reason: o.reason ?? null, count: ids.length });
      const op = this.stmt(
        `INSERT INTO memory_ops (at, op, session_id, run_id, step, tool_call_id, detail) VALUES (?, 'forget', ?, ?, ?, ?, ?)`,
      ).run(now, p?.sessionId ?? null, p?.runId ?? null, p?.step ?? null, p?.toolCallId ?? null, detail);
      this.stmt(
        `${cte} UPDATE memory_records SET deleted_at = ?, deleted_op = ? WHERE id IN (SELECT id FROM doomed) AND deleted_op IS NULL`,
      ).run(...args, now, Number(op.lastInsertRowid));
      return { forgotten: ids };
    });
    return run.immediate();
  }

  protected async pointAtTime(atMs: number): Promise<number> {
    const v = this.stmt('SELECT MAX(seq) FROM memory_ops WHERE at <= ?').pluck().get(atMs) as number | null;
    return v ?? 0;
  }

  protected async sessionPoints(sessionId: string, step: number): Promise<{ upTo: number | null; first: number | null }> {
    const upTo = this.stmt('SELECT MAX(seq) FROM memory_ops WHERE session_id = ? AND step <= ?').pluck().get(sessionId, step) as number | null;
    const first = this.stmt('SELECT MIN(seq) FROM memory_ops WHERE session_id = ?').pluck().get(sessionId) as number | null;
    return { upTo, first };
  }
}

function migrate(db: Database.Database): void {
  const run = db.transaction(() => {
    db.exec('CREATE TABLE IF NOT EXISTS memory_schema (version INTEGER NOT NULL)');
    let version = db.prepare('SELECT version FROM memory_schema').pluck().get() as number | undefined;
    if (version === undefined) {
      db.prepare('INSERT INTO memory_schema (version) VALUES (0)').run();
      version = 0;
    }
    if (version > MIGRATIONS.length) {
      throw new Error(`memory database is at schema version ${version}, newer than this code (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    db.prepare('UPDATE memory_schema SET version = ?').run(MIGRATIONS.length);
  });
  // IMMEDIATE: two processes opening a fresh file must not both run the migrations.
  run.immediate();
}

function registerFunctions(db: Database.Database): void {
  db.function('memory_cosine', { deterministic: true }, (a: unknown, b: unknown) => {
    if (!Buffer.isBuffer(a) || !Buffer.isBuffer(b) || a.length !== b.length || a.length === 0) return null;
    const x = decodeVector(a);
    const y = decodeVector(b);
    let dot = 0;
    let nx = 0;
    let ny = 0;
    for (let i = 0; i < x.length; i++) {
      dot += x[i] * y[i];
      nx += x[i] * x[i];
      ny += y[i] * y[i];
    }
    return nx === 0 || ny === 0 ? 0 : dot / Math.sqrt(nx * ny);
  });
}
