/**
 * Search context (`context` on a write): indexed with a lower weight than the record's text, on both
 * backends; and an existing SQLite database from before the column existed is migrated in place.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { conversationRecords, SqliteMemoryStore } from '../../memory';
import { MIGRATIONS, namespaceKey } from '../../memory/sqlite';
import { backends } from './backends';

describe.each(backends())('search context on $name', (b) => {
  const maybe = b.skipReason ? test.skip : test;
  beforeAll(() => b.setup());
  afterAll(() => b.teardown());

  maybe('finds a record through its context, below records whose own text matches', async () => {
    const { store } = await b.open();
    const ns = 'user/ctx';
    const prov = { sessionId: 's' };
    const answer = await store.write({ namespace: ns, text: 'Yes, last Saturday, it was wonderful!', context: 'Did you go to the pottery workshop?', provenance: prov });
    const direct = await store.write({ namespace: ns, text: 'The pottery workshop is on the third floor.', provenance: prov });
    await store.write({ namespace: ns, text: 'Unrelated note about taxes.', provenance: prov });
    const hits = await store.search({ query: 'pottery workshop', namespace: ns });
    expect(hits.map((h) => h.record.id)).toEqual([direct.id, answer.id]);
    expect(hits[1].record.context).toBe('Did you go to the pottery workshop?');
    expect((await store.get(direct.id))!.context).toBeUndefined();
  });

  maybe('conversationRecords stores one record per turn with neighbours and the date as context', async () => {
    const { store } = await b.open();
    const inputs = conversationRecords(
      [
        { speaker: 'Ann', text: 'Did you go to the pottery workshop?', date: '8 May 2023' },
        { speaker: 'Bo', text: 'Yes, last Saturday!', date: '8 May 2023' },
        { speaker: 'Ann', text: 'Nice.', date: '8 May 2023' },
      ],
      { namespace: 'conv/1', provenance: { sessionId: 's' } },
    );
    expect(inputs[1]).toMatchObject({ text: 'Bo: Yes, last Saturday!', context: '8 May 2023\nAnn: Did you go to the pottery workshop?\nAnn: Nice.' });
    await store.writeMany(inputs);
    const hits = await store.search({ query: 'When did Bo go to the pottery workshop?', namespace: 'conv/1' });
    expect(hits.map((h) => h.record.text)).toContain('Bo: Yes, last Saturday!');
    expect((await store.search({ query: 'May 2023', namespace: 'conv/1' })).length).toBe(3);
  });
});

test('a SQLite memory database from schema version 1 is migrated and its records stay searchable', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-migrate-'));
  try {
    const file = path.join(dir, 'old.sqlite');
    const db = new Database(file);
    db.exec(MIGRATIONS[0]);
    db.exec('CREATE TABLE memory_schema (version INTEGER NOT NULL); INSERT INTO memory_schema VALUES (1);');
    db.prepare(`INSERT INTO memory_ops (at, op, session_id) VALUES (1, 'write', 's')`).run();
    db.prepare(
      `INSERT INTO memory_records (id, namespace, ns_key, kind, text, metadata, session_id, created_at, created_op)
       VALUES ('r1', 'user/old', ?, 'note', 'The heat pump was installed in March.', '{}', 's', 1, 1)`,
    ).run(namespaceKey('user/old'));
    db.close();
    const store = await SqliteMemoryStore.open({ path: file });
    try {
      const hits = await store.search({ query: 'heat pump', namespace: 'user/old' });
      expect(hits.map((h) => h.record.id)).toEqual(['r1']);
      expect(store.database.prepare('SELECT version FROM memory_schema').pluck().get()).toBe(MIGRATIONS.length);
      await store.write({ namespace: 'user/old', text: 'New note', context: 'heat pump follow-up', provenance: { sessionId: 's2' } });
      expect((await store.search({ query: 'heat pump', namespace: 'user/old' })).map((h) => h.record.id)[0]).toBe('r1');
    } finally {
      await store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
