/**
 * PostgreSQL backend, for many workers sharing one memory. Full-text: a stored tsvector column
 * ('english' config) with a GIN index, ranked by ts_rank. Embeddings are stored as real[] so the
 * schema never depends on an extension; similarity uses pgvector's `<=>` when the `vector` extension
 * is installed (detected at open), else an exact cosine in SQL. Concurrency: idempotency through the
 * unique key index (INSERT ... ON CONFLICT DO NOTHING); forgets take an exclusive transaction-level
 * advisory lock and writes with derivedFrom a shared one, so a summary can never be committed from a
 * source that a concurrent forget has already passed over.
 */
import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient, type PoolConfig } from 'pg';
import { BaseMemoryStore, type ForgetTarget, type LexicalHit, type VectorHit } from './base';
import { recordFilters, searchFilters, SqlParams, websearchExpression } from './query';
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

export interface PostgresMemoryStoreOptions extends MemoryStoreCommonOptions {
  /** Used to create a pool owned (and ended) by the store. */
  connectionString?: string;
  /** A caller-owned pool; `close()` leaves it open. */
  pool?: Pool;
  /** Extra settings for the owned pool. */
  poolConfig?: Omit<PoolConfig, 'connectionString'>;
  /** Schema holding the tables (created if missing). Default 'public'. Lowercase identifier. */
  schema?: string;
  /**
   * 'auto' (default): use pgvector for similarity when the `vector` extension is installed, trying
   * CREATE EXTENSION once if it is available but not installed; otherwise exact cosine in SQL.
   * 'off': never touch the extension.
   */
  vector?: 'auto' | 'off';
  /**
   * Errors of idle pooled connections (server restart, network drop) on the owned pool. The pool
   * discards such a connection and the next query opens a new one; without a listener Node would
   * treat the pool's 'error' event as fatal. Default: ignored.
   */
  onPoolError?: (err: Error) => void;
}

/** Text search configuration baked into the generated tsvector column; queries must use the same. */
const TS_CONFIG = 'english';

interface RecordRow {
  id: string;
  namespace: string;
  kind: string;
  text: string;
  metadata: Record<string, unknown>;
  session_id: string;
  run_id: string | null;
  step: number | null;
  tool_call_id: string | null;
  created_at: Date;
  supersedes: string | null;
  deleted_at: Date | null;
  derived_from: string[];
  idempotency_key: string | null;
  context: string | null;
}

const COLUMNS =
  'm.id, m.namespace, m.kind, m.text, m.metadata, m.session_id, m.run_id, m.step, m.tool_call_id, ' +
  'm.created_at, m.supersedes, m.deleted_at, m.derived_from, m.idempotency_key, m.context';

/**
 * ts_rank normalization 1 (rank / (1 + log(length))): without it long records (pasted documents,
 * long assistant answers) outrank short ones just by containing more words. Chosen on the retrieval
 * benchmark's tuning half.
 */
const RANK_NORMALIZATION = 1;

const KIND_CHECK = MEMORY_KINDS.map((k) => `'${k}'`).join(', ');

function migrations(s: string): string[] {
  return [
    `
    CREATE TABLE ${s}.memory_ops (
      seq bigserial PRIMARY KEY,
      at timestamptz NOT NULL,
      op text NOT NULL CHECK (op IN ('write', 'forget')),
      session_id text, run_id text, step integer, tool_call_id text,
      detail jsonb
    );
    CREATE INDEX memory_ops_at ON ${s}.memory_ops (at);
    CREATE INDEX memory_ops_session ON ${s}.memory_ops (session_id, step);

    CREATE TABLE ${s}.memory_records (
      id text PRIMARY KEY,
      namespace text NOT NULL,
      kind text NOT NULL CHECK (kind IN (${KIND_CHECK})),
      text text NOT NULL,
      metadata jsonb NOT NULL,
      session_id text NOT NULL, run_id text, step integer, tool_call_id text,
      created_at timestamptz NOT NULL,
      created_op bigint NOT NULL,
      supersedes text REFERENCES ${s}.memory_records (id),
      deleted_at timestamptz,
      deleted_op bigint,
      derived_from text[] NOT NULL DEFAULT '{}',
      idempotency_key text UNIQUE,
      embedding real[],
      tsv tsvector GENERATED ALWAYS AS (to_tsvector('${TS_CONFIG}'::regconfig, text)) STORED
    );
    CREATE INDEX memory_records_tsv ON ${s}.memory_records USING gin (tsv);
    -- text_pattern_ops serves both equality and the LIKE 'prefix%' of namespacePrefix.
    CREATE INDEX memory_records_ns ON ${s}.memory_records (namespace text_pattern_ops, created_op);
    CREATE INDEX memory_records_session ON ${s}.memory_records (session_id);
    CREATE INDEX memory_records_supersedes ON ${s}.memory_records (supersedes) WHERE supersedes IS NOT NULL;

    -- Reverse index of derived_from, walked by the forget cascade.
    CREATE TABLE ${s}.memory_derivations (
      source_id text NOT NULL,
      record_id text NOT NULL,
      PRIMARY KEY (source_id, record_id)
    );

    -- Exact cosine for servers without pgvector (float8 accumulation; NULL on dimension mismatch).
    CREATE FUNCTION ${s}.memory_cosine(a real[], b real[]) RETURNS double precision
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN cardinality(a) <> cardinality(b) OR cardinality(a) = 0 THEN NULL ELSE (
          SELECT CASE WHEN sum(x::float8 * x) = 0 OR sum(y::float8 * y) = 0 THEN 0
                      ELSE sum(x::float8 * y) / sqrt(sum(x::float8 * x) * sum(y::float8 * y)) END
          FROM unnest(a, b) AS t(x, y)) END
      $$;
    `,
    // 2: search context, indexed as weight D (text is A); ts_rank weighs D with the store's contextWeight.
    `
    ALTER TABLE ${s}.memory_records ADD COLUMN context text;
    DROP INDEX ${s}.memory_records_tsv;
    ALTER TABLE ${s}.memory_records DROP COLUMN tsv;
    ALTER TABLE ${s}.memory_records ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
      setweight(to_tsvector('${TS_CONFIG}'::regconfig, text), 'A') ||
      setweight(to_tsvector('${TS_CONFIG}'::regconfig, coalesce(context, '')), 'D')) STORED;
    CREATE INDEX memory_records_tsv ON ${s}.memory_records USING gin (tsv);
    `,
  ];
}

function toRecord(r: RecordRow): MemoryRecord {
  return {
    id: r.id,
    namespace: r.namespace,
    kind: r.kind as MemoryKind,
    text: r.text,
    metadata: r.metadata,
    provenance: {
      sessionId: r.session_id,
      ...(r.run_id !== null ? { runId: r.run_id } : {}),
      ...(r.step !== null ? { step: r.step } : {}),
      ...(r.tool_call_id !== null ? { toolCallId: r.tool_call_id } : {}),
    },
    createdAt: r.created_at.toISOString(),
    supersedes: r.supersedes,
    deletedAt: r.deleted_at ? r.deleted_at.toISOString() : null,
    derivedFrom: r.derived_from,
    idempotencyKey: r.idempotency_key,
    ...(r.context !== null ? { context: r.context } : {}),
  };
}

/** bigint/numeric come back as strings from pg; sequence numbers stay far below 2^53. */
function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export class PostgresMemoryStore extends BaseMemoryStore {
  readonly backend = 'postgres' as const;
  /** How similarity is computed when an embed function is configured. */
  readonly vectorImpl: 'pgvector' | 'sql';
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly s: string;
  private readonly schemaName: string;
  /** Schema-qualified pgvector type/operator prefix, e.g. `"public".` */
  private readonly vectorNs: string | null;
  private closed = false;

  private constructor(pool: Pool, ownsPool: boolean, schema: string, vectorNs: string | null, opts: PostgresMemoryStoreOptions) {
    super(opts);
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.schemaName = schema;
    this.s = `"${schema}"`;
    this.vectorNs = vectorNs;
    this.vectorImpl = vectorNs ? 'pgvector' : 'sql';
  }

  /** Connects, creates the schema/tables if needed (idempotent, safe under concurrent openers). */
  static async open(opts: PostgresMemoryStoreOptions): Promise<PostgresMemoryStore> {
    const schema = opts.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new MemoryError('invalid_input', `invalid schema name '${schema}'`);
    if (!opts.pool && !opts.connectionString) throw new MemoryError('invalid_input', 'PostgresMemoryStore needs a pool or a connectionString');
    const pool = opts.pool ?? new Pool({ ...opts.poolConfig, connectionString: opts.connectionString });
    if (!opts.pool) pool.on('error', (err) => opts.onPoolError?.(err));
    try {
      await migrate(pool, schema);
      const vectorNs = opts.vector === 'off' ? null : await detectVector(pool);
      return new PostgresMemoryStore(pool, !opts.pool, schema, vectorNs, opts);
    } catch (err) {
      if (!opts.pool) await pool.end();
      throw err;
    }
  }

  get schema(): string {
    return this.schemaName;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken = false;
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      // A failed ROLLBACK means the connection itself is gone: destroy it rather than pool it.
      await c.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      c.release(broken);
    }
  }

  /** Advisory lock key shared by forgets (exclusive) and derived writes (shared), per schema. */
  private get cascadeLockKey(): string {
    return `agent-runtime.memory.cascade:${this.schemaName}`;
  }

  protected async findByKeys(keys: string[]): Promise<Set<string>> {
    const r = await this.pool.query<{ k: string }>(`SELECT idempotency_key AS k FROM ${this.s}.memory_records WHERE idempotency_key = ANY($1)`, [keys]);
    return new Set(r.rows.map((x) => x.k));
  }

  private async rowByKey(c: PoolClient, key: string): Promise<RecordRow | undefined> {
    const r = await c.query<RecordRow>(`SELECT ${COLUMNS} FROM ${this.s}.memory_records m WHERE m.idempotency_key = $1`, [key]);
    return r.rows[0];
  }

  protected async insertBatch(items: NormalizedWrite[], embeddings: Array<number[] | null>): Promise<MemoryRecord[]> {
    return this.tx(async (c) => {
      if (items.some((it) => it.derivedFrom.length > 0)) {
        await c.query('SELECT pg_advisory_xact_lock_shared(hashtext($1))', [this.cascadeLockKey]);
      }
      const out: MemoryRecord[] = [];
      for (let i = 0; i < items.length; i++) out.push(await this.insertOne(c, items[i], embeddings[i]));
      return out;
    });
  }

  private async insertOne(c: PoolClient, it: NormalizedWrite, embedding: number[] | null): Promise<MemoryRecord> {
    if (it.idempotencyKey !== undefined) {
      const existing = await this.rowByKey(c, it.idempotencyKey);
      if (existing) return toRecord(existing);
    }
    if (it.supersedes !== undefined) {
      const t = await c.query<{ namespace: string }>(`SELECT namespace FROM ${this.s}.memory_records WHERE id = $1`, [it.supersedes]);
      if (t.rows.length === 0) throw new MemoryError('not_found', `supersedes: no memory record '${it.supersedes}'`);
      // Same namespace only: otherwise a writer could hide records in a namespace it cannot write to.
      if (t.rows[0].namespace !== it.namespace) {
        throw new MemoryError('invalid_input', `supersedes: record '${it.supersedes}' is in namespace '${t.rows[0].namespace}', not '${it.namespace}'`);
      }
    }
    const sources = [...new Set(it.derivedFrom)];
    if (sources.length > 0) {
      const r = await c.query<{ id: string; deleted_op: string | null }>(
        `SELECT id, deleted_op FROM ${this.s}.memory_records WHERE id = ANY($1)`,
        [sources],
      );
      const found = new Map(r.rows.map((x) => [x.id, x.deleted_op]));
      for (const src of sources) {
        if (!found.has(src)) throw new MemoryError('not_found', `derivedFrom: no memory record '${src}'`);
        // Deriving from forgotten data would resurrect it in a record the cascade already ran past.
        if (found.get(src) !== null) throw new MemoryError('conflict', `derivedFrom: record '${src}' has been forgotten`);
      }
    }
    const now = new Date(this.clock());
    const p = it.provenance;
    const op = await c.query<{ seq: string }>(
      `INSERT INTO ${this.s}.memory_ops (at, op, session_id, run_id, step, tool_call_id) VALUES ($1, 'write', $2, $3, $4, $5) RETURNING seq`,
      [now, p.sessionId, p.runId ?? null, p.step ?? null, p.toolCallId ?? null],
    );
    const seq = op.rows[0].seq;
    const ins = await c.query<RecordRow>(
      `INSERT INTO ${this.s}.memory_records AS m (id, namespace, kind, text, metadata, session_id, run_id, step, tool_call_id,
         created_at, created_op, supersedes, derived_from, idempotency_key, embedding, context)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        randomUUID(),
        it.namespace,
        it.kind,
        it.text,
        JSON.stringify(it.metadata),
        p.sessionId,
        p.runId ?? null,
        p.step ?? null,
        p.toolCallId ?? null,
        now,
        seq,
        it.supersedes ?? null,
        sources,
        it.idempotencyKey ?? null,
        embedding,
        it.context ?? null,
      ],
    );
    if (ins.rows.length === 0) {
      // A concurrent writer committed the same key after our check (ON CONFLICT waited for it, so
      // this new statement sees its row). Drop our now-pointless operation entry and return theirs.
      await c.query(`DELETE FROM ${this.s}.memory_ops WHERE seq = $1`, [seq]);
      const existing = await this.rowByKey(c, it.idempotencyKey as string);
      if (!existing) throw new MemoryError('conflict', `idempotency key '${it.idempotencyKey}' conflicted but no record is visible`);
      return toRecord(existing);
    }
    const record = ins.rows[0];
    if (sources.length > 0) {
      await c.query(`INSERT INTO ${this.s}.memory_derivations (source_id, record_id) SELECT unnest($1::text[]), $2`, [sources, record.id]);
    }
    return toRecord(record);
  }

  protected async getRecord(id: string): Promise<MemoryRecord | null> {
    const r = await this.pool.query<RecordRow>(`SELECT ${COLUMNS} FROM ${this.s}.memory_records m WHERE m.id = $1`, [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  protected async listRecords(namespace: string, o: NormalizedList, point: number | null): Promise<MemoryRecord[]> {
    const p = new SqlParams('pg');
    const where = recordFilters(p, `${this.s}.memory_records`, {
      point,
      includeSuperseded: o.includeSuperseded,
      includeDeleted: o.includeDeleted,
      namespace,
      kinds: o.kinds,
    });
    const sql = `SELECT ${COLUMNS} FROM ${this.s}.memory_records m WHERE ${where.join(' AND ')} ORDER BY m.created_op LIMIT ${p.add(o.limit)}`;
    const r = await this.pool.query<RecordRow>(sql, p.values);
    return r.rows.map(toRecord);
  }

  protected async lexicalSearch(q: NormalizedSearch, tokens: string[], point: number | null, limit: number): Promise<LexicalHit[]> {
    const p = new SqlParams('pg');
    const query = p.add(websearchExpression(tokens));
    const where = searchFilters(p, `${this.s}.memory_records`, q, point);
    const sql =
      `SELECT ${COLUMNS}, ts_rank('{${this.contextWeight}, 0, 0, 1}'::float4[], m.tsv, tq, ${RANK_NORMALIZATION}) AS rank FROM ${this.s}.memory_records m, ` +
      `websearch_to_tsquery('${TS_CONFIG}', ${query}) tq WHERE m.tsv @@ tq${where.map((w) => ` AND ${w}`).join('')} ` +
      `ORDER BY rank DESC, m.created_op DESC LIMIT ${p.add(limit)}`;
    const r = await this.pool.query<RecordRow & { rank: number }>(sql, p.values);
    return r.rows.map((row) => ({ record: toRecord(row), score: Number(row.rank) }));
  }

  protected async vectorSearch(q: NormalizedSearch, vector: number[], point: number | null, limit: number): Promise<VectorHit[]> {
    const p = new SqlParams('pg');
    const dims = p.add(vector.length);
    let distance: string;
    if (this.vectorNs) {
      // Cast the stored real[] at query time: no fixed dimension in the schema (an HNSW index needs one).
      const qv = p.add(`[${vector.join(',')}]`);
      distance = `(m.embedding::${this.vectorNs}vector OPERATOR(${this.vectorNs}<=>) ${qv}::${this.vectorNs}vector)`;
    } else {
      distance = `(1 - ${this.s}.memory_cosine(m.embedding, ${p.add(vector)}::real[]))`;
    }
    const where = searchFilters(p, `${this.s}.memory_records`, q, point);
    // Ascending distance: NaN (zero vectors under pgvector) sorts last instead of first.
    const sql =
      `SELECT ${COLUMNS}, ${distance} AS dist FROM ${this.s}.memory_records m ` +
      `WHERE m.embedding IS NOT NULL AND cardinality(m.embedding) = ${dims}${where.map((w) => ` AND ${w}`).join('')} ` +
      `ORDER BY dist ASC LIMIT ${p.add(limit)}`;
    const r = await this.pool.query<RecordRow & { dist: number | null }>(sql, p.values);
    return r.rows
      .map((row) => ({ record: toRecord(row), similarity: 1 - Number(row.dist) }))
      .filter((h) => Number.isFinite(h.similarity));
  }

  protected async forgetTarget(target: ForgetTarget, o: NormalizedForget): Promise<ForgetResult> {
    let root: string;
    let args: unknown[];
    switch (target.by) {
      case 'id':
        root = 'id = $1';
        args = [target.id];
        break;
      case 'namespace':
        root = `namespace = $1 OR starts_with(namespace, $2)`;
        args = [target.namespace, `${target.namespace}/`];
        break;
      case 'session':
        root = 'session_id = $1';
        args = [target.sessionId];
        break;
    }
    return this.tx(async (c) => {
      if (target.by === 'id') {
        const exists = await c.query(`SELECT 1 FROM ${this.s}.memory_records WHERE id = $1`, [target.id]);
        if (exists.rows.length === 0) throw new MemoryError('not_found', `no memory record '${target.id}'`);
      }
      // Taken before the walk: afterwards no derived write can commit until we do, and every statement
      // below sees all derived writes that committed before we got the lock.
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.cascadeLockKey]);
      const doomed = await c.query<{ id: string }>(
        `WITH RECURSIVE doomed(id) AS (SELECT id FROM ${this.s}.memory_records WHERE ${root} ` +
          `UNION SELECT d.record_id FROM ${this.s}.memory_derivations d JOIN doomed ON d.source_id = doomed.id) ` +
          `SELECT m.id FROM ${this.s}.memory_records m JOIN doomed USING (id) WHERE m.deleted_op IS NULL ORDER BY m.created_op`,
        args,
      );
      const ids = doomed.rows.map((r) => r.id);
      if (ids.length === 0) return { forgotten: [] };
      const now = new Date(this.clock());
      const p = o.provenance;
      const op = await c.query<{ seq: string }>(
        `INSERT INTO ${this.s}.memory_ops (at, op, session_id, run_id, step, tool_call_id, detail)
         VALUES ($1, 'forget', $2, $3, $4, $5, $6::jsonb) RETURNING seq`,
        [now, p?.sessionId ?? null, p?.runId ?? null, p?.step ?? null, p?.toolCallId ?? null, JSON.stringify({ target, reason: o.reason ?? null, count: ids.length })],
      );
      await c.query(`UPDATE ${this.s}.memory_records SET deleted_at = $1, deleted_op = $2 WHERE id = ANY($3) AND deleted_op IS NULL`, [
        now,
        op.rows[0].seq,
        ids,
      ]);
      return { forgotten: ids };
    });
  }

  protected async pointAtTime(atMs: number): Promise<number> {
    const r = await this.pool.query<{ v: string | null }>(`SELECT MAX(seq) AS v FROM ${this.s}.memory_ops WHERE at <= $1`, [new Date(atMs)]);
    return num(r.rows[0].v) ?? 0;
  }

  protected async sessionPoints(sessionId: string, step: number): Promise<{ upTo: number | null; first: number | null }> {
    const r = await this.pool.query<{ up_to: string | null; first: string | null }>(
      `SELECT (SELECT MAX(seq) FROM ${this.s}.memory_ops WHERE session_id = $1 AND step <= $2) AS up_to,
              (SELECT MIN(seq) FROM ${this.s}.memory_ops WHERE session_id = $1) AS first`,
      [sessionId, step],
    );
    return { upTo: num(r.rows[0].up_to), first: num(r.rows[0].first) };
  }
}

async function migrate(pool: Pool, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const steps = migrations(s);
  const c = await pool.connect();
  let broken = false;
  try {
    await c.query('BEGIN');
    // Serialises concurrent openers: CREATE ... IF NOT EXISTS alone still races on the catalogs.
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`agent-runtime.memory.migrate:${schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${s}.memory_schema (version integer NOT NULL)`);
    const r = await c.query<{ version: number }>(`SELECT version FROM ${s}.memory_schema`);
    let version = r.rows[0]?.version;
    if (version === undefined) {
      await c.query(`INSERT INTO ${s}.memory_schema (version) VALUES (0)`);
      version = 0;
    }
    if (version > steps.length) throw new Error(`memory schema ${schema} is at version ${version}, newer than this code (${steps.length})`);
    for (let v = version; v < steps.length; v++) await c.query(steps[v]);
    await c.query(`UPDATE ${s}.memory_schema SET version = $1`, [steps.length]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => (broken = true));
    throw err;
  } finally {
    c.release(broken);
  }
}

/** Schema prefix of pgvector's objects (e.g. `"public".`), or null when pgvector cannot be used. */
async function detectVector(pool: Pool): Promise<string | null> {
  const find = async (): Promise<string | null> => {
    const r = await pool.query<{ nsp: string }>(
      `SELECT n.nspname AS nsp FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'`,
    );
    return r.rows[0] ? `"${r.rows[0].nsp.replace(/"/g, '""')}".` : null;
  };
  const installed = await find();
  if (installed) return installed;
  const available = await pool.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`);
  if (available.rows.length === 0) return null;
  try {
    await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
  } catch {
    // Not allowed to create extensions here: fall back to SQL cosine rather than failing to open.
    return null;
  }
  return find();
}
