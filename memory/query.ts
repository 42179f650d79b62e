/**
 * Backend-independent search helpers: turning untrusted query text into safe full-text queries,
 * SQL filter building shared by both dialects, cosine similarity and reciprocal-rank fusion.
 */
import type { FusionOptions, MemoryKind, NormalizedSearch } from './types';

/**
 * Common English function words. Dropped from lexical queries because with OR semantics they match
 * most of the corpus (slow, and they drown the ranking); PostgreSQL's 'english' config drops them too.
 */
const STOPWORDS = new Set(
  (
    'a an and are as at be been but by can could did do does for from had has have he her him his how i if in into is it its ' +
    'me my no not of on or our she so than that the their them then there these they this those to us was we were what when ' +
    'where which who whom why will with would you your about any all also am just more most some such only own same too very ' +
    'should shall may might must being having doing'
  ).split(' '),
);

export const MAX_QUERY_TOKENS = 32;

/**
 * Words of the query: runs of letters, digits and combining marks, lowercased, deduplicated, stopwords
 * dropped unless nothing else is left. Everything else (quotes, `*`, `:`, `-`, parentheses, NEAR, ...)
 * is a separator, so no user text can become FTS syntax.
 */
export function queryTokens(query: string): string[] {
  const words = query.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}\p{M}]+/gu) ?? [];
  const unique = [...new Set(words)];
  const content = unique.filter((w) => !STOPWORDS.has(w));
  return (content.length > 0 ? content : unique).slice(0, MAX_QUERY_TOKENS);
}

/** FTS5 MATCH expression: each token a quoted string (quotes cannot occur in tokens), OR-ed. */
export function fts5Expression(tokens: string[]): string {
  return tokens.map((t) => `"${t.replace(/"/g, '""')}"`).join(' OR ');
}

/**
 * Input for PostgreSQL's websearch_to_tsquery, which never raises a syntax error; `or` is its OR
 * keyword, so a literal token "or" (a stopword anyway) is dropped rather than read as an operator.
 */
export function websearchExpression(tokens: string[]): string {
  return tokens.filter((t) => t !== 'or').join(' or ');
}

export type SqlStyle = 'sqlite' | 'pg';

/** Numbered placeholders for both dialects so fragments can be built in any order. */
export class SqlParams {
  readonly values: unknown[] = [];
  constructor(readonly style: SqlStyle) {}
  add(value: unknown): string {
    this.values.push(value);
    const n = this.values.length;
    return this.style === 'pg' ? `$${n}` : `@p${n}`;
  }
  /** better-sqlite3 binds named parameters from an object keyed without the prefix. */
  sqliteBindings(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.values.forEach((v, i) => (out[`p${i + 1}`] = v));
    return out;
  }
}

export interface FilterSpec {
  /** Operation sequence number to evaluate visibility at; null = now. */
  point: number | null;
  includeSuperseded: boolean;
  includeDeleted: boolean;
  namespace?: string | string[];
  namespacePrefix?: string;
  kinds?: readonly MemoryKind[];
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * WHERE conditions on `m` (a records table). Visibility at point P: created at or before P, not
 * deleted at P, and no record that was live at P supersedes it (so forgetting the newer version
 * makes the older one current again, which is what undoing a session's writes should do).
 */
export function recordFilters(p: SqlParams, table: string, spec: FilterSpec): string[] {
  const where: string[] = [];
  const P = spec.point === null ? null : p.add(spec.point);
  if (P) where.push(`m.created_op <= ${P}`);
  if (!spec.includeDeleted) where.push(P ? `(m.deleted_op IS NULL OR m.deleted_op > ${P})` : 'm.deleted_op IS NULL');
  if (!spec.includeSuperseded) {
    const live = P ? `s.created_op <= ${P} AND (s.deleted_op IS NULL OR s.deleted_op > ${P})` : 's.deleted_op IS NULL';
    where.push(`NOT EXISTS (SELECT 1 FROM ${table} s WHERE s.supersedes = m.id AND ${live})`);
  }
  if (spec.namespace !== undefined) {
    const list = Array.isArray(spec.namespace) ? spec.namespace : [spec.namespace];
    where.push(list.length === 1 ? `m.namespace = ${p.add(list[0])}` : `m.namespace IN (${list.map((n) => p.add(n)).join(', ')})`);
  }
  if (spec.namespacePrefix !== undefined) {
    if (p.style === 'pg') {
      where.push(`m.namespace LIKE ${p.add(`${escapeLike(spec.namespacePrefix)}%`)} ESCAPE '\\'`);
    } else {
      // SQLite's LIKE is case-insensitive; substr keeps the prefix match exact.
      const x = p.add(spec.namespacePrefix);
      where.push(`substr(m.namespace, 1, length(${x})) = ${x}`);
    }
  }
  if (spec.kinds && spec.kinds.length > 0) where.push(`m.kind IN (${spec.kinds.map((k) => p.add(k)).join(', ')})`);
  return where;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number | null {
  if (a.length !== b.length || a.length === 0) return null;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Standard RRF constant: damps the head so one list cannot dominate (Cormack et al. 2009). */
export const RRF_K = 60;

/**
 * Weight of a record's search context (neighbouring turns, dates) relative to its own text (1.0) in
 * lexical ranking: context separates records the text alone cannot, without outranking a record whose
 * own text matches. Chosen on the tuning half of examples/bench/memory-quality.ts: R@5 72.7 (SQLite) / 70.2
 * (PostgreSQL) at 0.5, against 59.4 / 50.0 at 0 and no gain above 0.5 for SQLite.
 */
export const CONTEXT_WEIGHT = 0.5;

/**
 * Hybrid fusion defaults, chosen on the tuning half of examples/bench/memory-quality.ts (reported on the other
 * half): the vector ranking at half the lexical one's weight. all-MiniLM-L6-v2 reads only the first 256
 * tokens of a record and is a small model, so on its own it ranks worse than bm25 with context; at half
 * weight it still promotes paraphrases bm25 misses. R@5 on the tuning half: 76.3 (SQLite) / 73.8
 * (PostgreSQL) at weight 0.5 against 73.8 / 73.8 at equal weights and 58.8 / 58.8 at 3; stable over k 10-60.
 */
export const DEFAULT_FUSION: Required<FusionOptions> = { lexicalWeight: 1, vectorWeight: 0.5, k: RRF_K };

/** Fuses ranked id lists: score(id) = sum over lists of weight / (k + rank), rank from 1. */
export function reciprocalRankFusion(lists: string[][], weights: number[] = lists.map(() => 1), k: number = RRF_K): Map<string, number> {
  const scores = new Map<string, number>();
  lists.forEach((list, l) => {
    const w = weights[l] ?? 1;
    list.forEach((id, i) => scores.set(id, (scores.get(id) ?? 0) + w / (k + i + 1)));
  });
  return scores;
}

/** The filters every search (lexical or vector, either backend) applies: live records matching the query's scope. */
export function searchFilters(p: SqlParams, table: string, q: NormalizedSearch, point: number | null): string[] {
  return recordFilters(p, table, {
    point,
    includeSuperseded: q.includeSuperseded,
    includeDeleted: false,
    namespace: q.namespace,
    namespacePrefix: q.namespacePrefix,
    kinds: q.kinds,
  });
}
