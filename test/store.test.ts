/**
 * The session store contract, one suite run against both backends: embedded SQLite and a real
 * PostgreSQL server started by the test harness.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openSessionStore, type SessionStore } from '../runtime/store';
import { PostgresSessionStore } from '../runtime/store/postgres';
import { SqliteSessionStore } from '../runtime/store/sqlite';
import { STORE_FORMAT } from '../runtime/store/format';
import { postgresSkipReason, startPostgres, type PostgresServer } from './support/postgres';

const backends = [
  { name: 'sqlite', skip: null as string | null },
  { name: 'postgres', skip: postgresSkipReason() },
];

describe.each(backends)('session store on $name', ({ name, skip }) => {
  let url = '';
  let dir = '';
  let pg: PostgresServer | null = null;
  const opened: SessionStore[] = [];
  const open = (): SessionStore => {
    const s = openSessionStore(url);
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    if (skip) return;
    if (name === 'sqlite') {
      dir = mkdtempSync(path.join(os.tmpdir(), 'session-store-'));
      url = `sqlite:${path.join(dir, 'sessions.sqlite')}`;
    } else {
      pg = await startPostgres();
      url = await pg!.createDatabase('sessions');
    }
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const maybe = skip ? test.skip : test;
  if (skip) test(`skipped: ${skip}`, () => expect(process.env.CI).toBeFalsy());

  maybe('entries written before store formats existed are read as format 1; a newer format is refused with the reason', async () => {
    // The backend itself, as an older runtime wrote it: no storeFormat in meta.
    const raw = name === 'sqlite' ? new SqliteSessionStore(url.slice('sqlite:'.length)) : new PostgresSessionStore(url);
    try {
      await raw.append('legacy', [
        { seq: 0, message: { role: 'user', content: 'old' } },
        { seq: 1, message: { role: 'assistant', content: 'x' }, meta: { turn: { usage: 1 } } },
        { seq: 2, message: { role: 'assistant', content: 'y' }, meta: { storeFormat: STORE_FORMAT + 1 } },
      ]);
    } finally {
      await raw.close();
    }
    const s = open();
    expect((await s.get('legacy', 0))?.meta).toEqual({ storeFormat: STORE_FORMAT });
    expect((await s.get('legacy', 1))?.meta).toEqual({ turn: { usage: 1 }, storeFormat: STORE_FORMAT });
    await expect(s.get('legacy', 2)).rejects.toThrow(`session legacy entry 2 has store format ${STORE_FORMAT + 1}; this worker reads formats up to ${STORE_FORMAT}`);
    await expect(s.list('legacy')).rejects.toThrow('deploy the newer worker version');
  });

  maybe('appends and lists a transcript in seq order, ranges included', async () => {
    const s = open();
    await s.append('s1', [
      { seq: 1, message: { role: 'user', content: 'hi' } },
      { seq: 0, message: { role: 'system', content: 'be brief' } },
      { seq: 2, message: { role: 'assistant', content: 'hello', tool_calls: [] }, meta: { turn: { usage: 3 } } },
    ]);
    const all = await s.list('s1');
    expect(all.map((m) => [m.seq, m.message.role])).toEqual([[0, 'system'], [1, 'user'], [2, 'assistant']]);
    // Every entry carries the store format it was written in.
    expect(all[2].meta).toEqual({ turn: { usage: 3 }, storeFormat: STORE_FORMAT });
    expect((await s.list('s1', { fromSeq: 1, beforeSeq: 2 })).map((m) => m.seq)).toEqual([1]);
    expect(await s.get('s1', 1)).toMatchObject({ sessionId: 's1', seq: 1, message: { content: 'hi' }, meta: { storeFormat: STORE_FORMAT } });
    expect(await s.get('s1', 9)).toBeUndefined();
    expect(await s.list('other')).toEqual([]);
  });

  maybe('a fork reads its parent prefix through a link (no copy), then its own entries; forks of forks; the parent is untouched', async () => {
    const s = open();
    const msg = (seq: number, content: string) => ({ seq, message: { role: 'user', content } });
    await s.append('p', [msg(0, 'p0'), msg(1, 'p1'), msg(2, 'p2'), msg(3, 'p3')]);
    await s.link('f', { parentId: 'p', beforeSeq: 2 });
    await s.link('f', { parentId: 'p', beforeSeq: 2 }); // a retried fork activity
    await s.append('f', [msg(2, 'f2'), msg(3, 'f3')]);
    await expect(s.append('f', [msg(1, 'no')])).rejects.toThrow('session f is a fork of p below seq 2; entry 1 cannot be written there');
    expect((await s.list('f')).map((m) => m.message.content)).toEqual(['p0', 'p1', 'f2', 'f3']);
    expect((await s.list('f', { fromSeq: 1, beforeSeq: 3 })).map((m) => m.message.content)).toEqual(['p1', 'f2']);
    expect((await s.get('f', 1))?.message.content).toBe('p1');
    expect((await s.get('f', 2))?.message.content).toBe('f2');
    // Only the fork's own entries are stored for it (and written in the format that knows links).
    expect((await s.stats('f')).count).toBe(2);
    expect((await s.get('f', 2))?.sessionId).toBe('f');
    // A fork of the fork: p0 from p, f2 from f, its own from 3 on.
    await s.link('ff', { parentId: 'f', beforeSeq: 3 });
    await s.append('ff', [msg(3, 'ff3')]);
    expect((await s.list('ff')).map((m) => m.message.content)).toEqual(['p0', 'p1', 'f2', 'ff3']);
    expect(await s.parentOf('ff')).toEqual({ parentId: 'f', beforeSeq: 3 });
    expect(await s.parentOf('p')).toBeUndefined();
    expect((await s.list('p')).map((m) => m.message.content)).toEqual(['p0', 'p1', 'p2', 'p3']);
    // A different link for an existing fork, a cycle and a non-new session are refused with the reason.
    await expect(s.link('f', { parentId: 'p', beforeSeq: 1 })).rejects.toThrow('session f is already a fork of p at seq 1; it cannot become a fork of p at 0');
    await s.append('q', [msg(0, 'q0')]);
    await expect(s.link('q', { parentId: 'p', beforeSeq: 1 })).rejects.toThrow('session q already has entries below seq 1');
    await expect(s.link('p', { parentId: 'ff', beforeSeq: 1 })).rejects.toThrow('session p cannot be a fork of itself (through ff)');
    // Another process (another worker) reads the same link from the database.
    const other = open();
    expect((await other.list('ff')).map((m) => m.message.content)).toEqual(['p0', 'p1', 'f2', 'ff3']);
  });

  maybe('writes are idempotent by (session, seq): a retried write never duplicates or overwrites', async () => {
    const s = open();
    await s.append('s2', [{ seq: 0, message: { role: 'user', content: 'first' } }]);
    await s.append('s2', [{ seq: 0, message: { role: 'user', content: 'retry with other content' } }]);
    await Promise.all(Array.from({ length: 10 }, () => s.append('s2', [{ seq: 1, message: { role: 'tool', content: 'x' } }])));
    const all = await s.list('s2');
    expect(all).toHaveLength(2);
    expect(all[0].message.content).toBe('first');
  });

  maybe('two handles (two workers) see each other\'s writes', async () => {
    const a = open();
    const b = open();
    await a.append('s3', [{ seq: 0, message: { role: 'user', content: 'from a' } }]);
    await b.append('s3', [{ seq: 1, message: { role: 'assistant', content: 'from b' } }]);
    expect((await a.list('s3')).map((m) => m.message.content)).toEqual(['from a', 'from b']);
    expect(await b.stats('s3')).toEqual({ count: 2, bytes: expect.any(Number) });
  });

  maybe('keeps unicode and large messages intact', async () => {
    const s = open();
    const big = 'ü€😀'.repeat(50_000);
    await s.append('s4', [{ seq: 0, message: { role: 'tool', content: big } }]);
    expect((await s.get('s4', 0))?.message.content).toBe(big);
  });
});
