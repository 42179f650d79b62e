/**
 * The research agent's source library: short Markdown documents on home energy retrofits in
 * `corpus/` (file `src-NN-<slug>.md`, first line `# Title`, then a `Published: YYYY-MM · Author` line).
 * Loaded from disk once; searched with BM25 over title + body.
 *
 * The text helpers (tokenize, sentences, publishedOf) are pure and also used by the scripted model.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const CORPUS_DIR = path.join(__dirname, 'corpus');

export interface SourceDocument {
  id: string;
  title: string;
  /** Body without the title line (starts with the `Published:` line). */
  text: string;
}

export interface SearchHit {
  id: string;
  title: string;
  snippet: string;
  score: number;
}

const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her him his how i if in into is it its ' +
    'me my no not of on or our she so than that the their them then there these they this those to us was we were what when ' +
    'where which who whom why will with would you your about any all also am just more most some such only own same too very ' +
    'should shall may might must being having doing per'
  ).split(' '),
);

/** Light English stemming: one plural/verb suffix, then a trailing e (homes/home -> hom, measured/measure -> measur). */
export function stem(word: string): string {
  let w = word;
  for (const suffix of ['ing', 'ed', 'es', 's']) {
    if (w.endsWith(suffix) && !(suffix === 's' && w.endsWith('ss')) && w.length - suffix.length >= 3) {
      w = w.slice(0, -suffix.length);
      break;
    }
  }
  return w.length > 3 && w.endsWith('e') ? w.slice(0, -1) : w;
}

/** Content words of a text, lowercased and stemmed, in order (duplicates kept). */
export function tokenize(text: string): string[] {
  const words = text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((w) => !STOPWORDS.has(w)).map(stem);
}

/** Sentences of a body, skipping the title and `Published:` lines. Numbers like 2.8 never split. */
export function sentences(text: string): string[] {
  return text
    .split(/\n+/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !/^Published:/i.test(line))
    .flatMap((para) => para.split(/(?<=[.!?])\s+(?=[A-Z0-9(€-])/))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `YYYY-MM` from a document's `Published:` line, when there is one. */
export function publishedOf(text: string): string | undefined {
  return /Published:\s*(\d{4}-\d{2})/.exec(text)?.[1];
}

interface IndexedDoc extends SourceDocument {
  tf: Map<string, number>;
  length: number;
}

interface CorpusIndex {
  docs: IndexedDoc[];
  byId: Map<string, IndexedDoc>;
  df: Map<string, number>;
  avgLength: number;
}

let cached: CorpusIndex | undefined;

function load(): CorpusIndex {
  if (cached) return cached;
  const docs: IndexedDoc[] = [];
  for (const file of readdirSync(CORPUS_DIR).sort()) {
    const id = /^(src-\d+)-.*\.md$/.exec(file)?.[1];
    if (!id) continue;
    const raw = readFileSync(path.join(CORPUS_DIR, file), 'utf8').replace(/\r\n/g, '\n');
    const [first = '', ...rest] = raw.split('\n');
    const title = first.replace(/^#\s*/, '').trim();
    if (!first.startsWith('#') || !title) throw new Error(`corpus file ${file} must start with a '# Title' line`);
    const text = rest.join('\n').trim();
    // The title counts twice: it says what the document is about.
    const tokens = [...tokenize(title), ...tokenize(title), ...tokenize(text)];
    const tf = new Map<string, number>();
    for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
    docs.push({ id, title, text, tf, length: tokens.length });
  }
  if (docs.length === 0) throw new Error(`research corpus is empty (${CORPUS_DIR})`);
  const df = new Map<string, number>();
  for (const d of docs) for (const t of d.tf.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  const avgLength = docs.reduce((n, d) => n + d.length, 0) / docs.length;
  cached = { docs, byId: new Map(docs.map((d) => [d.id, d])), df, avgLength };
  return cached;
}

/** Ids of every source, in order. */
export function sourceIds(): string[] {
  return load().docs.map((d) => d.id);
}

function snippetFor(doc: SourceDocument, terms: Set<string>): string {
  const all = sentences(doc.text);
  let best = all[0] ?? '';
  let bestHits = 0;
  for (const s of all) {
    const hits = new Set(tokenize(s).filter((t) => terms.has(t))).size;
    if (hits > bestHits) [best, bestHits] = [s, hits];
  }
  return best.length > 240 ? `${best.slice(0, 239).trimEnd()}…` : best;
}

/** BM25 (k1 1.2, b 0.75) over title + body; best first, ties by id; only documents matching some query word. */
export function searchCorpus(query: string, k = 5): SearchHit[] {
  const { docs, df, avgLength } = load();
  const terms = [...new Set(tokenize(query))];
  const n = docs.length;
  const k1 = 1.2;
  const b = 0.75;
  const scored = docs
    .map((doc) => {
      let score = 0;
      for (const t of terms) {
        const f = doc.tf.get(t);
        if (!f) continue;
        const idf = Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
        score += (idf * f * (k1 + 1)) / (f + k1 * (1 - b + (b * doc.length) / avgLength));
      }
      return { doc, score };
    })
    .filter((s) => s.score > 0)
    .sort((x, y) => y.score - x.score || x.doc.id.localeCompare(y.doc.id));
  const limit = Math.max(1, Math.min(Math.floor(k) || 5, docs.length));
  const termSet = new Set(terms);
  return scored.slice(0, limit).map(({ doc, score }) => ({
    id: doc.id,
    title: doc.title,
    snippet: snippetFor(doc, termSet),
    score: Number(score.toFixed(4)),
  }));
}

/** The full source; throws for an unknown id. */
export function readSource(id: string): SourceDocument {
  const { docs, byId } = load();
  const doc = byId.get(id.trim());
  if (!doc) {
    throw new Error(
      `unknown source id '${id}': ids look like ${docs[0]!.id} … ${docs[docs.length - 1]!.id}; use search_sources to find relevant ones`,
    );
  }
  return { id: doc.id, title: doc.title, text: doc.text };
}
