/**
 * One behavioural suite for every MemoryStore backend: the semantics (visibility, idempotency,
 * cascades, history) must not depend on which database is underneath.
 */
import { MemoryError, type MemoryRecord, type MemoryStore, type MemoryWriteInput, type Provenance } from '../../memory';
import { backends, fakeClock, localEmbed, type Backend } from './backends';

const prov = (step?: number, sessionId = 'sess-1'): Provenance => (step === undefined ? { sessionId } : { sessionId, step });

async function expectMemoryError(p: Promise<unknown>, code: MemoryError['code']): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(MemoryError);
  await expect(p).rejects.toMatchObject({ code });
}

const texts = (hits: Array<{ record: MemoryRecord }>): string[] => hits.map((h) => h.record.text);

describe.each(backends())('MemoryStore on $name', (backend: Backend) => {
  if (backend.skipReason) {
    // Only outside CI: in CI the PostgreSQL harness must run, so a missing server fails here.
    it(`skipped: ${backend.skipReason}`, () => expect(process.env.CI).toBeFalsy());
    return;
  }

  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());

  let store: MemoryStore;
  beforeEach(async () => {
    ({ store } = await backend.open());
  });
  afterEach(() => backend.closeAll());

  const write = (input: Partial<MemoryWriteInput> & { text: string }) =>
    store.write({ namespace: 'user/1', provenance: prov(), ...input });

  describe('write / get', () => {
    it('round-trips every field', async () => {
      const clock = fakeClock(Date.UTC(2025, 5, 1, 12));
      ({ store } = await backend.open({ clock: clock.now }));
      const src = await write({ text: 'User is vegetarian', kind: 'fact' });
      const rec = await store.write({
        namespace: 'user/1',
        kind: 'summary',
        text: 'Diet: vegetarian',
        metadata: { confidence: 0.9, tags: ['diet'], nested: { ok: true } },
        provenance: { sessionId: 'sess-1', runId: 'run-7', step: 12, toolCallId: 'call_abc' },
        derivedFrom: [src.id, src.id],
        idempotencyKey: 'key-roundtrip',
      });
      const got = await store.get(rec.id);
      expect(got).toEqual(rec);
      expect(got).toEqual({
        id: rec.id,
        namespace: 'user/1',
        kind: 'summary',
        text: 'Diet: vegetarian',
        metadata: { confidence: 0.9, tags: ['diet'], nested: { ok: true } },
        provenance: { sessionId: 'sess-1', runId: 'run-7', step: 12, toolCallId: 'call_abc' },
        createdAt: new Date(Date.UTC(2025, 5, 1, 12) + 1).toISOString(),
        supersedes: null,
        deletedAt: null,
        derivedFrom: [src.id],
        idempotencyKey: 'key-roundtrip',
      });
    });

    it('defaults kind to note and metadata to {}, and returns null for unknown ids', async () => {
      const rec = await write({ text: 'remember the milk' });
      expect(rec).toMatchObject({ kind: 'note', metadata: {}, supersedes: null, derivedFrom: [], idempotencyKey: null });
      expect(await store.get('no-such-id')).toBeNull();
    });

    it('rejects invalid input with MemoryError(invalid_input)', async () => {
      await expectMemoryError(write({ text: '   ' }), 'invalid_input');
      await expectMemoryError(write({ text: 'x', namespace: 'has space' }), 'invalid_input');
      await expectMemoryError(write({ text: 'x', namespace: 'trailing/' }), 'invalid_input');
      await expectMemoryError(write({ text: 'x', kind: 'gossip' as never }), 'invalid_input');
      await expectMemoryError(store.write({ namespace: 'user/1', text: 'x', provenance: { sessionId: '' } }), 'invalid_input');
      await expectMemoryError(write({ text: 'x', derivedFrom: ['missing'] }), 'not_found');
      await expectMemoryError(store.search({ query: 'x', k: 0 }), 'invalid_input');
    });
  });

  describe('opening', () => {
    it('creates the schema once even when two handles open a fresh location concurrently', async () => {
      const location = await backend.freshLocation();
      const [a, b] = await Promise.all([backend.open({}, location), backend.open({}, location)]);
      await a.store.write({ namespace: 'user/1', text: 'written through a', provenance: prov() });
      expect(texts(await b.store.search({ query: 'written' }))).toEqual(['written through a']);
      const again = await backend.open({}, location);
      expect(await again.store.list('user/1')).toHaveLength(1);
    });

    if (backend.terminateIdleConnections) {
      const terminate = backend.terminateIdleConnections.bind(backend);
      it('survives the server dropping its idle connections', async () => {
        await write({ text: 'before the restart' });
        expect(await terminate()).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 50));
        expect(texts(await store.search({ query: 'restart' }))).toEqual(['before the restart']);
        await write({ text: 'after the restart' });
      });
    }
  });

  describe('search', () => {
    beforeEach(async () => {
      await store.writeMany(
        [
          'User drinks espresso every morning',
          'User likes coffee with oat milk',
          'The coffee machine in the office is broken',
          'User is allergic to peanuts',
          'Meeting with Alice about the Q3 budget',
          'User prefers tea in the evening',
          'Espresso and coffee beans are ordered from Lisbon',
        ].map((text) => ({ namespace: 'user/1', text, provenance: prov() })),
      );
    });

    it('ranks records matching more (and rarer) query terms first', async () => {
      const hits = await store.search({ query: 'espresso coffee' });
      expect(texts(hits)[0]).toBe('Espresso and coffee beans are ordered from Lisbon');
      expect(new Set(texts(hits))).toEqual(
        new Set([
          'Espresso and coffee beans are ordered from Lisbon',
          'User drinks espresso every morning',
          'User likes coffee with oat milk',
          'The coffee machine in the office is broken',
        ]),
      );
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
      expect(hits.every((h) => h.lexicalScore === h.score && h.similarity === null)).toBe(true);
    });

    it('stems words and ignores stopwords', async () => {
      expect(texts(await store.search({ query: 'what does the user like?' }))[0]).toBe('User likes coffee with oat milk');
      expect(texts(await store.search({ query: 'allergies peanut' }))).toEqual(['User is allergic to peanuts']);
    });

    it('honours k and returns nothing for unrelated queries', async () => {
      expect(await store.search({ query: 'coffee', k: 2 })).toHaveLength(2);
      expect(await store.search({ query: 'quantum chromodynamics' })).toEqual([]);
    });
  });

  describe('namespaces and kinds', () => {
    beforeEach(async () => {
      await write({ namespace: 'user/1', text: 'likes jazz music', kind: 'preference' });
      await write({ namespace: 'user/10', text: 'likes jazz concerts', kind: 'fact' });
      await write({ namespace: 'user/1/work', text: 'jazz playlist for focus', kind: 'note' });
      await write({ namespace: 'agent/dj', text: 'jazz is popular on fridays', kind: 'fact' });
    });

    it('filters by exact namespace, several namespaces, or a prefix', async () => {
      expect(texts(await store.search({ query: 'jazz', namespace: 'user/1' }))).toEqual(['likes jazz music']);
      expect(new Set(texts(await store.search({ query: 'jazz', namespace: ['user/1', 'agent/dj'] })))).toEqual(
        new Set(['likes jazz music', 'jazz is popular on fridays']),
      );
      expect(await store.search({ query: 'jazz', namespacePrefix: 'user/' })).toHaveLength(3);
      expect(texts(await store.search({ query: 'jazz', namespacePrefix: 'user/1/' }))).toEqual(['jazz playlist for focus']);
      // Prefix matching is exact (case-sensitive, no LIKE wildcards).
      expect(await store.search({ query: 'jazz', namespacePrefix: 'USER/' })).toEqual([]);
      expect(await store.search({ query: 'jazz', namespacePrefix: 'user_' })).toEqual([]);
    });

    it('filters by kind', async () => {
      expect(new Set(texts(await store.search({ query: 'jazz', kinds: ['fact'] })))).toEqual(
        new Set(['likes jazz concerts', 'jazz is popular on fridays']),
      );
    });

    it('lists exactly one namespace, oldest first', async () => {
      await write({ namespace: 'user/1', text: 'second user/1 record' });
      expect(texts((await store.list('user/1')).map((record) => ({ record })))).toEqual(['likes jazz music', 'second user/1 record']);
      expect(await store.list('user/1', { kinds: ['fact'] })).toEqual([]);
      expect(await store.list('nobody')).toEqual([]);
    });
  });

  describe('supersedes', () => {
    it('hides the older version from searches and lists but keeps it readable', async () => {
      const old = await write({ text: 'User lives in Paris', kind: 'fact' });
      const cur = await write({ text: 'User lives in Berlin since 2024', kind: 'fact', supersedes: old.id });
      expect(texts(await store.search({ query: 'user lives' }))).toEqual(['User lives in Berlin since 2024']);
      expect((await store.list('user/1')).map((r) => r.id)).toEqual([cur.id]);
      expect(await store.get(old.id)).toMatchObject({ text: 'User lives in Paris', deletedAt: null });
      expect(cur.supersedes).toBe(old.id);
      expect(new Set(texts(await store.search({ query: 'user lives', includeSuperseded: true })))).toEqual(
        new Set(['User lives in Paris', 'User lives in Berlin since 2024']),
      );
    });

    it('makes the older version current again when the newer one is forgotten', async () => {
      const v1 = await write({ text: 'favourite colour is blue' });
      const v2 = await write({ text: 'favourite colour is green', supersedes: v1.id });
      const v3 = await write({ text: 'favourite colour is red', supersedes: v2.id });
      expect(texts(await store.search({ query: 'favourite colour' }))).toEqual(['favourite colour is red']);
      await store.forget(v3.id);
      expect(texts(await store.search({ query: 'favourite colour' }))).toEqual(['favourite colour is green']);
    });

    it('requires an existing target in the same namespace', async () => {
      const other = await write({ namespace: 'user/2', text: 'someone else' });
      await expectMemoryError(write({ text: 'x', supersedes: 'missing' }), 'not_found');
      await expectMemoryError(write({ text: 'x', supersedes: other.id }), 'invalid_input');
    });
  });

  describe('idempotency', () => {
    it('returns the existing record for a repeated key', async () => {
      const a = await write({ text: 'first attempt', idempotencyKey: 'tool-call-1' });
      const b = await write({ text: 'retried attempt, different text', idempotencyKey: 'tool-call-1' });
      expect(b).toEqual(a);
      expect(await store.list('user/1')).toHaveLength(1);
    });

    it('dedupes inside a batch and against stored records', async () => {
      await write({ text: 'stored', idempotencyKey: 'k0' });
      const out = await store.writeMany([
        { namespace: 'user/1', text: 'again', provenance: prov(), idempotencyKey: 'k0' },
        { namespace: 'user/1', text: 'new one', provenance: prov(), idempotencyKey: 'k1' },
        { namespace: 'user/1', text: 'new one twice', provenance: prov(), idempotencyKey: 'k1' },
      ]);
      expect(out.map((r) => r.text)).toEqual(['stored', 'new one', 'new one']);
      expect(out[1].id).toBe(out[2].id);
      expect(await store.list('user/1')).toHaveLength(2);
    });

    it('writes one record under concurrent writes with the same key (one handle)', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => write({ text: `concurrent ${i}`, idempotencyKey: 'same-key' })),
      );
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      expect(await store.list('user/1')).toHaveLength(1);
    });

    it('writes one record per key under concurrent writes from two handles (with async embedding)', async () => {
      const first = await backend.open({ embed: localEmbed });
      const second = await backend.open({ embed: localEmbed }, first.location);
      const keys = Array.from({ length: 15 }, (_, i) => `k-${i}`);
      const attempts = keys.flatMap((key) =>
        [first.store, second.store, first.store].map((s) => s.write({ namespace: 'user/1', text: `text for ${key}`, provenance: prov(), idempotencyKey: key })),
      );
      const results = await Promise.all(attempts);
      const idsByKey = new Map<string, Set<string>>();
      for (const r of results) idsByKey.set(r.idempotencyKey as string, (idsByKey.get(r.idempotencyKey as string) ?? new Set()).add(r.id));
      expect([...idsByKey.values()].every((ids) => ids.size === 1)).toBe(true);
      expect(await first.store.list('user/1')).toHaveLength(keys.length);
    });

    it('does not call embed() again for a retried write', async () => {
      let calls = 0;
      const counting = (t: string[]) => {
        calls++;
        return localEmbed(t);
      };
      ({ store } = await backend.open({ embed: counting }));
      await write({ text: 'embedded once', idempotencyKey: 'e1' });
      await write({ text: 'embedded once', idempotencyKey: 'e1' });
      expect(calls).toBe(1);
    });
  });

  describe('forget', () => {
    it('soft-deletes and cascades transitively to derived records', async () => {
      const a = await write({ text: 'trip to Rome in May', kind: 'fact' });
      const b = await write({ text: 'hotel near the Colosseum', kind: 'fact' });
      const c = await write({ text: 'likes Roman food', kind: 'preference' });
      const summary = await write({ text: 'Rome trip summary', kind: 'summary', derivedFrom: [a.id, b.id] });
      const episode = await write({ text: 'Rome travel episode', kind: 'episode', derivedFrom: [summary.id] });
      const unrelated = await write({ text: 'Roman history summary', kind: 'summary', derivedFrom: [c.id] });

      const res = await store.forget(b.id, { provenance: prov(9), reason: 'user asked' });
      expect(new Set(res.forgotten)).toEqual(new Set([b.id, summary.id, episode.id]));
      for (const id of res.forgotten) expect((await store.get(id))?.deletedAt).not.toBeNull();
      expect(new Set(texts(await store.search({ query: 'rome roman trip hotel colosseum summary episode' })))).toEqual(
        new Set(['trip to Rome in May', 'likes Roman food', 'Roman history summary']),
      );
      expect(await store.get(unrelated.id)).toMatchObject({ deletedAt: null });
      // Repeating is a no-op; unknown ids are an error; nothing may be derived from forgotten data.
      expect(await store.forget(b.id)).toEqual({ forgotten: [] });
      await expectMemoryError(store.forget('missing'), 'not_found');
      await expectMemoryError(write({ text: 'derived from forgotten', derivedFrom: [b.id] }), 'conflict');
      expect((await store.list('user/1', { includeDeleted: true })).length).toBe(6);
    });

    it('forgetNamespace covers the namespace and its children, not siblings, and cascades across namespaces', async () => {
      const a = await write({ namespace: 'user/1', text: 'pet is a dog' });
      await write({ namespace: 'user/1/prefs', text: 'dog food brand' });
      await write({ namespace: 'user/10', text: 'dog walker on tuesdays' });
      const agg = await write({ namespace: 'agent/stats', kind: 'summary', text: 'dog owners summary', derivedFrom: [a.id] });
      const res = await store.forgetNamespace('user/1');
      expect(res.forgotten).toHaveLength(3);
      expect(res.forgotten).toContain(agg.id);
      expect(texts(await store.search({ query: 'dog' }))).toEqual(['dog walker on tuesdays']);
    });

    it('forgetSession removes what a session wrote and what was derived from it', async () => {
      const s1 = await write({ text: 'told us about the wedding', provenance: prov(1, 'sess-A') });
      await write({ text: 'wedding is in June', provenance: prov(2, 'sess-A') });
      await write({ text: 'wedding venue booked', provenance: prov(1, 'sess-B') });
      const sum = await write({ text: 'wedding summary', kind: 'summary', derivedFrom: [s1.id], provenance: prov(1, 'sess-C') });
      const res = await store.forgetSession('sess-A');
      expect(res.forgotten).toHaveLength(3);
      expect(res.forgotten).toContain(sum.id);
      expect(texts(await store.search({ query: 'wedding' }))).toEqual(['wedding venue booked']);
    });
  });

  describe('point-in-time (asOf)', () => {
    it('answers what was known at a time and at a step of a session', async () => {
      const clock = fakeClock();
      ({ store } = await backend.open({ clock: clock.now }));
      const T = (s: number) => Date.UTC(2025, 0, 1, 0, 0, s);
      clock.set(T(10));
      const paris = await write({ text: 'User lives in Paris', provenance: prov(1, 'S') });
      clock.set(T(20));
      await write({ text: 'User lives in Berlin', supersedes: paris.id, provenance: prov(4, 'S') });
      clock.set(T(25));
      const cat = await write({ namespace: 'user/1', text: 'User lives with a cat', provenance: prov(1, 'other-session') });
      clock.set(T(30));
      await store.forget(cat.id, { provenance: prov(6, 'S') });
      clock.set(T(40));
      await write({ text: 'User lives near a lake', provenance: prov(8, 'S') });

      const at = async (asOf: Parameters<MemoryStore['search']>[0]['asOf']) =>
        texts(await store.search({ query: 'user lives', asOf })).sort();
      expect(await at({ at: T(5) })).toEqual([]);
      expect(await at({ at: T(10) })).toEqual(['User lives in Paris']);
      expect(await at({ at: new Date(T(15)) })).toEqual(['User lives in Paris']);
      expect(await at({ at: new Date(T(22)).toISOString() })).toEqual(['User lives in Berlin']);
      expect(await at({ at: T(27) })).toEqual(['User lives in Berlin', 'User lives with a cat']);
      expect(await at({ at: T(35) })).toEqual(['User lives in Berlin']);
      expect(await at(undefined)).toEqual(['User lives in Berlin', 'User lives near a lake']);

      // Session steps: "just after the session's last memory operation at or before that step".
      expect(await at({ sessionId: 'S', step: 0 })).toEqual([]);
      expect(await at({ sessionId: 'S', step: 1 })).toEqual(['User lives in Paris']);
      expect(await at({ sessionId: 'S', step: 3 })).toEqual(['User lives in Paris']);
      expect(await at({ sessionId: 'S', step: 5 })).toEqual(['User lives in Berlin']);
      expect(await at({ sessionId: 'S', step: 6 })).toEqual(['User lives in Berlin']);
      expect(await at({ sessionId: 'S', step: 8 })).toEqual(['User lives in Berlin', 'User lives near a lake']);
      expect(await at({ sessionId: 'other-session', step: 1 })).toEqual(['User lives in Berlin', 'User lives with a cat']);
      await expectMemoryError(store.search({ query: 'user', asOf: { sessionId: 'never-seen', step: 1 } }), 'not_found');

      // list() answers the same question without a query; superseded/deleted are still readable.
      expect((await store.list('user/1', { asOf: { at: T(27) } })).map((r) => r.text).sort()).toEqual(['User lives in Berlin', 'User lives with a cat']);
      expect((await store.list('user/1', { asOf: { at: T(27) }, includeSuperseded: true })).length).toBe(3);
    });

    it('rejects invalid times', async () => {
      await expectMemoryError(store.search({ query: 'x', asOf: { at: 'not a date' } }), 'invalid_input');
    });
  });

  describe('tricky query strings', () => {
    const nasty = [
      '',
      '   ',
      '"',
      "'",
      '""',
      '"unbalanced',
      '*',
      'coffee*',
      '^coffee',
      'AND',
      'OR NOT',
      'coffee AND',
      'NOT coffee',
      'NEAR(coffee tea, 2)',
      'text:coffee',
      '{text}: coffee',
      'coffee -tea',
      '(coffee',
      'coffee)',
      '\\',
      '%_%',
      "'; DROP TABLE memory_records; --",
      'coffee & | ! <-> :*',
      '!!!',
      '🙂☕',
      'café crème',
      'C++ / C#',
      "don't",
      'a'.repeat(4000),
      'coffee '.repeat(500),
      '\u0000\u0001',
      '́', // a lone combining mark
    ];

    it.each(nasty.map((q) => [JSON.stringify(q).slice(0, 40), q]))('does not throw for %s', async (_label, q) => {
      await write({ text: 'User likes café crème and coffee; don\'t forget C++' });
      const hits = await store.search({ query: q });
      expect(Array.isArray(hits)).toBe(true);
      expect((await store.list('user/1')).length).toBe(1);
    });

    it('still finds the right record for punctuation-heavy queries', async () => {
      await write({ text: 'User likes café crème' });
      await write({ text: "Don't book flights before 9am" });
      expect(texts(await store.search({ query: '"café" (crème)*' }))).toEqual(['User likes café crème']);
      expect(texts(await store.search({ query: "don't BOOK -flights" }))).toEqual(["Don't book flights before 9am"]);
    });
  });

  describe('provenance', () => {
    it('round-trips through write, get, search and list', async () => {
      const full: Provenance = { sessionId: 'wf-123', runId: 'run-9', step: 42, toolCallId: 'call_xyz' };
      const a = await write({ text: 'provenance full', provenance: full });
      const b = await write({ text: 'provenance minimal', provenance: { sessionId: 'wf-123' } });
      expect((await store.get(a.id))?.provenance).toEqual(full);
      expect((await store.get(b.id))?.provenance).toEqual({ sessionId: 'wf-123' });
      const hits = await store.search({ query: 'provenance full' });
      expect(hits[0].record.provenance).toEqual(full);
      expect((await store.list('user/1')).map((r) => r.provenance)).toEqual([full, { sessionId: 'wf-123' }]);
    });
  });

  describe('hybrid search', () => {
    beforeEach(async () => {
      ({ store } = await backend.open({ embed: localEmbed }));
      await store.writeMany(
        ['User drives a red car', 'User has a kitten named Miso', 'User visits the dentist yearly', 'Red wine pairs with pasta'].map((text) => ({
          namespace: 'user/1',
          text,
          provenance: prov(),
        })),
      );
    });

    it('is reported as hybrid', () => {
      expect(store.searchMode).toBe('hybrid');
    });

    it('finds records by meaning that lexical search misses', async () => {
      const hits = await store.search({ query: 'automobile', k: 2 });
      expect(hits[0].record.text).toBe('User drives a red car');
      expect(hits[0].lexicalScore).toBeNull();
      expect(hits[0].similarity).toBeGreaterThan(0.3);
      const lexicalOnly = (await backend.open()).store;
      await lexicalOnly.write({ namespace: 'user/1', text: 'User drives a red car', provenance: prov() });
      expect(await lexicalOnly.search({ query: 'automobile' })).toEqual([]);
    });

    it('ranks records found by both signals first (reciprocal-rank fusion)', async () => {
      const hits = await store.search({ query: 'drives red vehicle' });
      expect(hits[0].record.text).toBe('User drives a red car');
      expect(hits[0].lexicalScore).not.toBeNull();
      expect(hits[0].similarity).not.toBeNull();
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
    });

    it('applies filters and visibility to vector candidates too', async () => {
      const car = (await store.search({ query: 'automobile', k: 1 }))[0].record;
      await store.forget(car.id);
      expect(texts(await store.search({ query: 'automobile' }))).not.toContain('User drives a red car');
      expect(await store.search({ query: 'automobile', namespace: 'user/2' })).toEqual([]);
    });

    it('rejects a malformed embed() result', async () => {
      ({ store } = await backend.open({ embed: async () => [[Number.NaN]] }));
      await expectMemoryError(write({ text: 'x' }), 'invalid_input');
    });
  });
});
