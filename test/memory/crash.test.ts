/**
 * Crash safety of the SQLite store with real processes: a writer SIGKILLed in the middle of a batch
 * of idempotent writes, then rerun, must leave exactly one record per key, keep every record it had
 * acknowledged (same id), and leave the database and its FTS index intact. Also: two processes
 * writing the same keys at once.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteMemoryStore } from '../../memory';

const ROOT = path.resolve(__dirname, '../..');
const WRITER = path.join(__dirname, 'fixtures', 'crash-writer.ts');

interface RunResult {
  acks: Map<string, string>;
  done: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the writer via `npx tsx`; with `killAfter`, SIGKILLs its whole process group after that many acks. */
function runWriter(db: string, args: { count: number; batch: number; delayMs: number; prefix?: string; killAfter?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['tsx', WRITER, db, String(args.count), String(args.batch), String(args.delayMs), args.prefix ?? 'crash'], {
      cwd: ROOT,
      // Own process group: npx -> tsx -> node; the kill must reach the process that holds the database.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks = new Map<string, string>();
    let done = false;
    let killed = false;
    let buf = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\S+) (\S+)$/.exec(line);
        if (m) {
          const prev = acks.get(m[1]);
          if (prev && prev !== m[2]) reject(new Error(`key ${m[1]} acknowledged with two ids in one run`));
          acks.set(m[1], m[2]);
        } else if (line === 'done') done = true;
      }
      if (!killed && args.killAfter !== undefined && acks.size >= args.killAfter && child.pid) {
        killed = true;
        process.kill(-child.pid, 'SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ acks, done, code, signal, stderr }));
  });
}

function inspect(db: string): { records: number; distinctKeys: number; writeOps: number; ids: Map<string, string>; integrity: string } {
  const store = SqliteMemoryStore.openSync({ path: db });
  try {
    const d = store.database;
    const records = d.prepare('SELECT count(*) FROM memory_records').pluck().get() as number;
    const distinctKeys = d.prepare('SELECT count(DISTINCT idempotency_key) FROM memory_records').pluck().get() as number;
    const writeOps = d.prepare(`SELECT count(*) FROM memory_ops WHERE op = 'write'`).pluck().get() as number;
    const rows = d.prepare('SELECT idempotency_key AS k, id FROM memory_records').all() as Array<{ k: string; id: string }>;
    const integrity = d.prepare('PRAGMA integrity_check').pluck().get() as string;
    // Throws SQLITE_CORRUPT_VTAB if the external-content index and the table disagree.
    d.prepare(`INSERT INTO memory_fts (memory_fts) VALUES ('integrity-check')`).run();
    return { records, distinctKeys, writeOps, ids: new Map(rows.map((r) => [r.k, r.id])), integrity };
  } finally {
    void store.close();
  }
}

describe('SQLite memory store under SIGKILL', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-crash-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('loses nothing acknowledged and duplicates nothing across kill/rerun cycles', async () => {
    const db = path.join(dir, 'crash.sqlite');
    const count = 1500;
    const seen = new Map<string, string>();
    const remember = (acks: Map<string, string>) => {
      for (const [k, id] of acks) {
        // A rerun must hand back the very record the killed run acknowledged, never a new one.
        if (seen.has(k)) expect(id).toBe(seen.get(k));
        seen.set(k, id);
      }
    };

    for (const killAfter of [150, 500, 900]) {
      const run = await runWriter(db, { count, batch: 25, delayMs: 2, killAfter });
      expect(run.stderr).toBe('');
      expect(run.done).toBe(false);
      expect(run.signal).toBe('SIGKILL');
      remember(run.acks);
      const state = inspect(db);
      expect(state.integrity).toBe('ok');
      expect(state.records).toBe(state.distinctKeys);
      // Killed transactions leave no half-written batch behind: every operation has its record.
      expect(state.writeOps).toBe(state.records);
      for (const [k, id] of seen) expect(state.ids.get(k)).toBe(id);
    }

    const final = await runWriter(db, { count, batch: 25, delayMs: 0 });
    expect(final.stderr).toBe('');
    expect(final.done).toBe(true);
    remember(final.acks);
    const state = inspect(db);
    expect(state).toMatchObject({ records: count, distinctKeys: count, writeOps: count, integrity: 'ok' });
    expect(seen.size).toBe(count);
    for (const [k, id] of seen) expect(state.ids.get(k)).toBe(id);

    const store = await SqliteMemoryStore.open({ path: db });
    try {
      const hits = await store.search({ query: 'record 1234 topic10', namespace: 'crash/test', k: 3 });
      expect(hits[0].record.metadata).toEqual({ i: 1234 });
    } finally {
      await store.close();
    }
  });

  it('writes each key once when two processes race on the same keys', async () => {
    const db = path.join(dir, 'race.sqlite');
    const args = { count: 400, batch: 20, delayMs: 0, prefix: 'race' };
    const [a, b] = await Promise.all([runWriter(db, args), runWriter(db, args)]);
    expect([a.stderr, b.stderr]).toEqual(['', '']);
    expect(a.done && b.done).toBe(true);
    for (const [k, id] of a.acks) expect(b.acks.get(k)).toBe(id);
    expect(inspect(db)).toMatchObject({ records: 400, distinctKeys: 400, writeOps: 400, integrity: 'ok' });
  });
});
