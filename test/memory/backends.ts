/**
 * The memory backends the shared suites run against. Each `open()` gets an isolated location (a
 * fresh SQLite file / a fresh PostgreSQL schema); `open(opts, location)` opens a second handle on
 * an existing one, for cross-connection tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PostgresMemoryStore, SqliteMemoryStore, type MemoryStore, type MemoryStoreCommonOptions } from '../../memory';
import { Client } from 'pg';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../support/postgres';

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Non-null: this backend cannot run here (never on CI, where the harness throws instead). */
  skipReason: string | null;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** Closes every store opened so far (PostgreSQL: returns pool connections to the small test server). */
  closeAll(): Promise<void>;
  open(opts?: MemoryStoreCommonOptions, location?: string): Promise<{ store: MemoryStore; location: string }>;
  /** A location nothing has opened yet (SQLite: a path; PostgreSQL: an empty schema). */
  freshLocation(): Promise<string>;
  /** PostgreSQL only: terminates the server side of every idle connection, as a restart would. */
  terminateIdleConnections?(): Promise<number>;
}

function sqliteBackend(): Backend {
  let dir = '';
  let n = 0;
  const stores: MemoryStore[] = [];
  return {
    name: 'sqlite',
    skipReason: null,
    async setup() {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-sqlite-'));
    },
    async closeAll() {
      for (const s of stores.splice(0)) await s.close();
    },
    async teardown() {
      await this.closeAll();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    },
    async freshLocation() {
      return path.join(dir, `m${++n}.sqlite`);
    },
    async open(opts = {}, location) {
      const file = location ?? path.join(dir, `m${++n}.sqlite`);
      // NORMAL: the suite checks semantics, not power-loss durability; the crash test uses the default.
      const store = await SqliteMemoryStore.open({ path: file, synchronous: 'NORMAL', ...opts });
      stores.push(store);
      return { store, location: file };
    },
  };
}

function postgresBackend(): Backend {
  let server: PostgresServer | null = null;
  const stores: MemoryStore[] = [];
  const skipReason = postgresSkipReason();
  return {
    name: 'postgres',
    skipReason,
    async setup() {
      if (skipReason) return;
      server = await startPostgres();
    },
    async closeAll() {
      for (const s of stores.splice(0)) await s.close();
    },
    async teardown() {
      await this.closeAll();
      await server?.stop();
      server = null;
    },
    async freshLocation() {
      if (!server) throw new Error('postgres backend not set up');
      return server.createSchema('memory');
    },
    async terminateIdleConnections() {
      if (!server) throw new Error('postgres backend not set up');
      const c = new Client({ connectionString: server.url });
      await c.connect();
      try {
        const r = await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'idle' AND backend_type = 'client backend'`,
        );
        return r.rowCount ?? 0;
      } finally {
        await c.end();
      }
    },
    async open(opts = {}, location) {
      if (!server) throw new Error('postgres backend not set up');
      const schema = location ?? (await server.createSchema('memory'));
      const store = await PostgresMemoryStore.open({ connectionString: server.url, schema, poolConfig: { max: 8 }, ...opts });
      stores.push(store);
      return { store, location: schema };
    },
  };
}

export function backends(): Backend[] {
  const list = [sqliteBackend(), postgresBackend()];
  for (const b of list) {
    if (b.skipReason) console.warn(`[memory tests] skipping the ${b.name} backend: ${b.skipReason}`);
  }
  return list;
}

/**
 * Deterministic local "embedding": bag of concepts hashed into 64 dims, with a few synonyms mapped to
 * one concept so that hybrid search can find what lexical search cannot (car ~ automobile).
 */
const CONCEPTS: Record<string, string> = {
  automobile: 'car',
  vehicle: 'car',
  cars: 'car',
  kitten: 'cat',
  feline: 'cat',
  cats: 'cat',
  physician: 'doctor',
  doctors: 'doctor',
};

export function localEmbed(texts: string[]): Promise<number[][]> {
  const DIMS = 64;
  return Promise.resolve(
    texts.map((t) => {
      const v = new Array<number>(DIMS).fill(0);
      for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        const c = CONCEPTS[w] ?? w;
        let h = 2166136261;
        for (let i = 0; i < c.length; i++) h = Math.imul(h ^ c.charCodeAt(i), 16777619) >>> 0;
        v[h % DIMS] += 1;
      }
      return v;
    }),
  );
}

/** Monotonic fake clock: each call advances 1 ms unless set explicitly. */
export function fakeClock(start = Date.UTC(2025, 0, 1)): { now: () => number; set(ms: number): void } {
  let t = start;
  return {
    now: () => t++,
    set(ms: number) {
      t = ms;
    },
  };
}
