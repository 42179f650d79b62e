/**
 * Memory store benchmark (SQLite, the default backend): recall latency at 10k and 100k records
 * (target: p50 < 5 ms at 100k) and write throughput, single and batched. The corpus is synthetic
 * but shaped like agent memories (templated facts/preferences/notes over a Zipf-distributed
 * vocabulary, ~100 records per user namespace) and generated from a fixed seed, so runs compare.
 *
 *   npx tsx examples/bench/memory.ts            # prints a table; ~1 minute on 2 cores
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteMemoryStore, startLocalEmbeddingServer, type MemoryWriteInput } from 'agent-runtime/memory';

export interface BenchRow {
  name: string;
  p50Ms: number;
  p99Ms: number;
  n: number;
  note?: string;
}

export interface BenchMemoryOptions {
  /** Corpus sizes for the recall benchmarks. Default [10_000, 100_000]. */
  sizes?: number[];
  /** Timed queries per scenario (after warm-up). Default 300. */
  queries?: number;
  /** Working directory for the database files (removed afterwards). Default: a temp dir. */
  dir?: string;
  /** Progress output; default none. */
  log?: (msg: string) => void;
  /** Measure the local embedding model's query latency (starts its server). Default true. */
  localModel?: boolean;
}

/** mulberry32: tiny, fast, good enough for a reproducible corpus. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = 'ka lo mi ra tu ve sol den mar tin bel cor fan gil hor jus lem nor pel qua ris sta tor ul vin wex yor zen'.split(' ');
const FOODS = 'sushi ramen tacos pizza pasta curry salad oatmeal croissants dumplings falafel paella risotto pho burritos'.split(' ');
const CITIES = 'Berlin Paris Lisbon Oslo Tokyo Austin Nairobi Lima Seoul Toronto Madrid Prague Dublin Kyoto Denver'.split(' ');
const NAMES = 'Alice Bob Carmen Dmitri Elena Farid Grace Hiro Ines Jonas Kemal Lena Marco Nadia Omar Priya'.split(' ');
const TOPICS = 'budget roadmap hiring migration launch pricing security onboarding audit offsite contract renewal'.split(' ');
const DAYS = 'Monday Tuesday Wednesday Thursday Friday Saturday Sunday'.split(' ');

/** Synthetic vocabulary with a Zipf-like draw: a few words are everywhere, most are rare. */
function makeVocabulary(rand: () => number, size: number): { word(): string; words: string[] } {
  const words: string[] = [];
  const seen = new Set<string>();
  while (words.length < size) {
    const n = 2 + Math.floor(rand() * 2);
    let w = '';
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return {
    words,
    // Inverse-CDF of a ~1/x density over ranks: rank = size^u.
    word: () => words[Math.min(size - 1, Math.floor(Math.pow(size, rand())) - 1)],
  };
}

interface Corpus {
  inputs: MemoryWriteInput[];
  users: number;
}

function makeCorpus(n: number, seed = 42): Corpus {
  const rand = rng(seed);
  const vocab = makeVocabulary(rand, 5000);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const filler = (k: number) => Array.from({ length: k }, () => vocab.word()).join(' ');
  const templates: Array<() => { kind: MemoryWriteInput['kind']; text: string }> = [
    () => ({ kind: 'preference', text: `User prefers ${pick(FOODS)} for dinner and dislikes ${pick(FOODS)}; ${filler(3)}` }),
    () => ({ kind: 'fact', text: `${pick(NAMES)} works on the ${vocab.word()} project in ${pick(CITIES)} as ${filler(2)}` }),
    () => ({ kind: 'note', text: `Meeting with ${pick(NAMES)} about the ${pick(TOPICS)} on ${pick(DAYS)}: ${filler(6)}` }),
    () => ({ kind: 'fact', text: `User's sister ${pick(NAMES)} lives in ${pick(CITIES)} near ${filler(2)}` }),
    () => ({ kind: 'episode', text: `Booked a trip to ${pick(CITIES)} for the ${pick(TOPICS)} offsite; ${filler(8)}` }),
    () => ({ kind: 'preference', text: `Prefers ${vocab.word()} notifications on ${pick(DAYS)} mornings, never ${filler(2)}` }),
    () => ({ kind: 'summary', text: `Summary: discussed ${pick(TOPICS)}, ${pick(TOPICS)} and ${filler(10)}` }),
  ];
  const users = Math.max(1, Math.round(n / 100));
  const inputs: MemoryWriteInput[] = [];
  for (let i = 0; i < n; i++) {
    const t = pick(templates)();
    inputs.push({
      namespace: `user/u${Math.floor(rand() * users)}`,
      kind: t.kind,
      text: t.text,
      metadata: { source: 'bench' },
      provenance: { sessionId: `session-${i % 997}`, step: i % 50 },
      idempotencyKey: `bench-${seed}-${i}`,
    });
  }
  return { inputs, users };
}

/** Queries shaped like recall calls: a couple of content words from a random existing memory. */
function makeQueries(corpus: Corpus, count: number, seed = 7): Array<{ query: string; namespace: string }> {
  const rand = rng(seed);
  const out: Array<{ query: string; namespace: string }> = [];
  for (let i = 0; i < count; i++) {
    const src = corpus.inputs[Math.floor(rand() * corpus.inputs.length)];
    const words = src.text.split(/[^A-Za-z']+/).filter((w) => w.length > 3);
    const k = 2 + Math.floor(rand() * 2);
    const picked = Array.from({ length: k }, () => words[Math.floor(rand() * words.length)]);
    out.push({ query: `what about ${picked.join(' ')}?`, namespace: src.namespace });
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summarise(name: string, samples: number[], note?: string): BenchRow {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { name, p50Ms: round(percentile(s, 50)), p99Ms: round(percentile(s, 99)), n: s.length, ...(note ? { note } : {}) };
}

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Cheap deterministic embedding (hashed bag of words) to price the hybrid path without a model. */
/**
 * Stand-in vectors for the stored records: 384 dims, the size of the local all-MiniLM-L6-v2 model, so
 * the store's exact cosine scan costs what it costs with real vectors (the cost depends on dimensions,
 * not content). Embedding 100k records with the real model would take an hour of CPU here; the real
 * model's query-embedding latency is measured separately and added in the "hybrid end to end" row.
 */
function hashEmbed(texts: string[]): Promise<number[][]> {
  const DIMS = 384;
  return Promise.resolve(
    texts.map((t) => {
      const v = new Array<number>(DIMS).fill(0);
      for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        let h = 2166136261;
        for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619) >>> 0;
        v[h % DIMS] += 1;
      }
      return v;
    }),
  );
}

export async function benchMemory(opts: BenchMemoryOptions = {}): Promise<BenchRow[]> {
  const sizes = opts.sizes ?? [10_000, 100_000];
  const nQueries = opts.queries ?? 300;
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-memory-'));
  fs.mkdirSync(dir, { recursive: true });
  const rows: BenchRow[] = [];

  try {
    // ---- write throughput (default durability: synchronous=FULL, one fsync per commit) ----
    {
      const corpus = makeCorpus(6000, 1);
      const store = await SqliteMemoryStore.open({ path: path.join(dir, 'writes.sqlite') });
      const single: number[] = [];
      const singleInputs = corpus.inputs.slice(0, 1000);
      const t0 = Date.now();
      for (const input of singleInputs) single.push(await time(() => store.write(input)));
      const singleRate = singleInputs.length / ((Date.now() - t0) / 1000);
      rows.push(summarise('write single (per call)', single, `${Math.round(singleRate)} records/s, synchronous=FULL`));

      const batched: number[] = [];
      const batchSize = 500;
      const batchInputs = corpus.inputs.slice(1000);
      const t1 = Date.now();
      for (let i = 0; i < batchInputs.length; i += batchSize) batched.push(await time(() => store.writeMany(batchInputs.slice(i, i + batchSize))));
      const batchRate = batchInputs.length / ((Date.now() - t1) / 1000);
      rows.push(summarise(`write batched x${batchSize} (per batch)`, batched, `${Math.round(batchRate)} records/s`));

      const retries: number[] = [];
      for (const input of singleInputs.slice(0, 500)) retries.push(await time(() => store.write(input)));
      rows.push(summarise('write retry, same key (per call)', retries, 'idempotent hit: returns existing record'));
      await store.close();
      log(`writes done`);
    }

    // ---- recall latency ----
    for (const size of sizes) {
      const corpus = makeCorpus(size);
      const file = path.join(dir, `recall-${size}.sqlite`);
      // Loading uses NORMAL: it is setup, not what is measured.
      const load = await SqliteMemoryStore.open({ path: file, synchronous: 'NORMAL' });
      const tl = Date.now();
      for (let i = 0; i < corpus.inputs.length; i += 2000) await load.writeMany(corpus.inputs.slice(i, i + 2000));
      const loadSecs = (Date.now() - tl) / 1000;
      load.database.pragma('optimize');
      await load.close();
      log(`loaded ${size} records in ${loadSecs.toFixed(1)} s`);

      const store = await SqliteMemoryStore.open({ path: file });
      const queries = makeQueries(corpus, nQueries + 30);
      const label = size >= 1000 ? `${size / 1000}k` : String(size);
      const scenarios: Array<{ name: string; run: (q: { query: string; namespace: string }) => Promise<unknown>; note: string }> = [
        { name: `recall k=5 in user namespace @${label}`, run: (q) => store.search({ query: q.query, namespace: q.namespace, k: 5 }), note: `${corpus.users} namespaces` },
        { name: `recall k=10 all namespaces @${label}`, run: (q) => store.search({ query: q.query, k: 10 }), note: 'no namespace filter' },
        { name: `recall k=5 asOf (time) @${label}`, run: (q) => store.search({ query: q.query, namespace: q.namespace, k: 5, asOf: { at: Date.now() } }), note: 'point-in-time' },
      ];
      for (const sc of scenarios) {
        for (const q of queries.slice(0, 30)) await sc.run(q); // warm-up: page cache, statement cache
        const samples: number[] = [];
        for (const q of queries.slice(30)) samples.push(await time(() => sc.run(q)));
        rows.push(summarise(sc.name, samples, sc.note));
      }
      await store.close();
    }

    // ---- hybrid: the store's part at 100k (384-dim stand-in vectors), and the real model's query embedding ----
    {
      const size = Math.max(...sizes);
      const label = size >= 1000 ? `${size / 1000}k` : String(size);
      const corpus = makeCorpus(size, 3);
      const store = await SqliteMemoryStore.open({ path: path.join(dir, 'hybrid.sqlite'), synchronous: 'NORMAL', embed: hashEmbed });
      for (let i = 0; i < corpus.inputs.length; i += 2000) await store.writeMany(corpus.inputs.slice(i, i + 2000));
      log(`hybrid: loaded ${size} records`);
      const queries = makeQueries(corpus, Math.min(nQueries, 200) + 20, 11);
      for (const q of queries.slice(0, 20)) await store.search({ query: q.query, namespace: q.namespace, k: 5 });
      const ns: number[] = [];
      for (const q of queries.slice(20)) ns.push(await time(() => store.search({ query: q.query, namespace: q.namespace, k: 5 })));
      rows.push(summarise(`hybrid recall k=5 in user namespace @${label}, store only`, ns, '384-dim vectors, exact cosine, RRF'));
      const all: number[] = [];
      for (const q of queries.slice(20, 50)) all.push(await time(() => store.search({ query: q.query, k: 5 })));
      rows.push(summarise(`hybrid recall k=5 all namespaces @${label}, store only`, all, 'full vector scan'));
      await store.close();
      if (opts.localModel !== false) {
        let server: Awaited<ReturnType<typeof startLocalEmbeddingServer>> | undefined;
        try {
          server = await startLocalEmbeddingServer();
          for (const q of queries.slice(0, 5)) await server.embed([q.query]);
          const emb: number[] = [];
          for (const q of queries.slice(20, 120)) emb.push(await time(() => server!.embed([q.query])));
          rows.push(summarise('query embedding, local all-MiniLM-L6-v2 over HTTP', emb, 'numpy on CPU, one BLAS thread'));
          const p50 = summarise('', ns).p50Ms + summarise('', emb).p50Ms;
          rows.push({ name: `hybrid recall k=5 in user namespace @${label}, end to end (sum of p50s)`, p50Ms: p50, p99Ms: NaN, n: emb.length, note: 'store + query embedding' });
        } catch (err) {
          log(`local embedding model unavailable, hybrid end-to-end latency not measured: ${(err as Error).message}`);
        } finally {
          await server?.stop();
        }
      }
    }
  } finally {
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

function printTable(rows: BenchRow[]): void {
  const header = ['benchmark', 'p50 ms', 'p99 ms', 'n', 'note'];
  const body = rows.map((r) => [r.name, r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), String(r.n), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

if (require.main === module) {
  const started = Date.now();
  benchMemory({ log: (m) => console.error(`[bench] ${m}`) })
    .then((rows) => {
      printTable(rows);
      console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
