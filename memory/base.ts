/**
 * The public `MemoryStore` behaviour shared by both backends: input validation, embedding calls,
 * hybrid fusion and point-in-time resolution. Backends supply only storage primitives, so the
 * semantics (what is visible, what cascades, what is idempotent) are defined once.
 */
import { z } from 'zod';
import { CONTEXT_WEIGHT, DEFAULT_FUSION, queryTokens, reciprocalRankFusion } from './query';
import {
  MemoryError,
  forgetOptionsSchema,
  listOptionsSchema,
  namespaceSchema,
  parseInput,
  searchQuerySchema,
  writeInputSchema,
  type EmbedFunction,
  type FusionOptions,
  type ForgetOptions,
  type ForgetResult,
  type MemoryHit,
  type MemoryListOptions,
  type MemoryRecord,
  type MemorySearchQuery,
  type MemoryStore,
  type MemoryStoreCommonOptions,
  type MemoryWriteInput,
  type NormalizedAsOf,
  type NormalizedForget,
  type NormalizedList,
  type NormalizedSearch,
  type NormalizedWrite,
} from './types';

/** What a forget starts from; the backend adds everything derived from it, transitively. */
export type ForgetTarget = { by: 'id'; id: string } | { by: 'namespace'; namespace: string } | { by: 'session'; sessionId: string };

export interface LexicalHit {
  record: MemoryRecord;
  score: number;
}
export interface VectorHit {
  record: MemoryRecord;
  similarity: number;
}

const embeddingsSchema = z.array(z.array(z.number().refine(Number.isFinite, 'embedding values must be finite')).min(1));

export abstract class BaseMemoryStore implements MemoryStore {
  abstract readonly backend: 'sqlite' | 'postgres';
  protected readonly embedFn: EmbedFunction | undefined;
  protected readonly clock: () => number;
  protected readonly fusion: Required<FusionOptions>;
  /** Lexical weight of a record's context relative to its text; a number, so it can be inlined into SQL. */
  protected readonly contextWeight: number;

  constructor(opts: MemoryStoreCommonOptions) {
    this.embedFn = opts.embed;
    this.clock = opts.clock ?? Date.now;
    this.fusion = { ...DEFAULT_FUSION, ...(opts.fusion ?? {}) };
    const { lexicalWeight, vectorWeight, k } = this.fusion;
    if (![lexicalWeight, vectorWeight, k].every((x) => Number.isFinite(x) && x >= 0)) {
      throw new MemoryError('invalid_input', `fusion weights and k must be finite numbers >= 0, got ${JSON.stringify(opts.fusion)}`);
    }
    const cw = opts.contextWeight ?? CONTEXT_WEIGHT;
    if (!Number.isFinite(cw) || cw < 0 || cw > 1) throw new MemoryError('invalid_input', `contextWeight must be a number in [0, 1], got ${String(cw)}`);
    this.contextWeight = cw;
  }

  get searchMode(): 'lexical' | 'hybrid' {
    return this.embedFn ? 'hybrid' : 'lexical';
  }

  // ---- storage primitives -------------------------------------------------------------------
  protected abstract findByKeys(keys: string[]): Promise<Set<string>>;
  /** One transaction; must re-check idempotency keys inside it (another writer may have won). */
  protected abstract insertBatch(items: NormalizedWrite[], embeddings: Array<number[] | null>): Promise<MemoryRecord[]>;
  protected abstract getRecord(id: string): Promise<MemoryRecord | null>;
  protected abstract listRecords(namespace: string, opts: NormalizedList, point: number | null): Promise<MemoryRecord[]>;
  protected abstract lexicalSearch(q: NormalizedSearch, tokens: string[], point: number | null, limit: number): Promise<LexicalHit[]>;
  protected abstract vectorSearch(q: NormalizedSearch, vector: number[], point: number | null, limit: number): Promise<VectorHit[]>;
  protected abstract forgetTarget(target: ForgetTarget, opts: NormalizedForget): Promise<ForgetResult>;
  /** Latest operation sequence number at or before `atMs`; 0 when none. */
  protected abstract pointAtTime(atMs: number): Promise<number>;
  /** [max seq of the session's ops with step <= step, min seq of any of its ops]; nulls when none. */
  protected abstract sessionPoints(sessionId: string, step: number): Promise<{ upTo: number | null; first: number | null }>;
  abstract close(): Promise<void>;

  // ---- public API ----------------------------------------------------------------------------
  async write(input: MemoryWriteInput): Promise<MemoryRecord> {
    const [record] = await this.writeMany([input]);
    return record;
  }

  async writeMany(inputs: MemoryWriteInput[]): Promise<MemoryRecord[]> {
    if (!Array.isArray(inputs)) throw new MemoryError('invalid_input', 'writeMany expects an array');
    if (inputs.length === 0) return [];
    const items = inputs.map((i, n) => parseInput(writeInputSchema, i, `memory write #${n}`));
    const embeddings: Array<number[] | null> = items.map(() => null);
    if (this.embedFn) {
      // Retries and replays are the usual source of repeated keys: skip the (possibly remote) embedding call.
      const keys = items.map((i) => i.idempotencyKey).filter((k): k is string => k !== undefined);
      const existing = keys.length > 0 ? await this.findByKeys(keys) : new Set<string>();
      const todo = items.map((it, n) => ({ it, n })).filter(({ it }) => !it.idempotencyKey || !existing.has(it.idempotencyKey));
      if (todo.length > 0) {
        const vectors = await this.embed(todo.map(({ it }) => it.text));
        todo.forEach(({ n }, j) => (embeddings[n] = vectors[j]));
      }
    }
    return this.insertBatch(items, embeddings);
  }

  async get(id: string): Promise<MemoryRecord | null> {
    if (typeof id !== 'string' || id.length === 0) throw new MemoryError('invalid_input', 'id must be a non-empty string');
    return this.getRecord(id);
  }

  async list(namespace: string, opts: MemoryListOptions = {}): Promise<MemoryRecord[]> {
    const ns = parseInput(namespaceSchema, namespace, 'namespace');
    const o = parseInput(listOptionsSchema, opts, 'list options');
    return this.listRecords(ns, o, await this.resolvePoint(o.asOf));
  }

  async search(query: MemorySearchQuery): Promise<MemoryHit[]> {
    const q = parseInput(searchQuerySchema, query, 'memory search');
    const tokens = queryTokens(q.query);
    // Nothing searchable (empty, only punctuation/operators): no hits rather than an error or "everything".
    if (tokens.length === 0) return [];
    const point = await this.resolvePoint(q.asOf);
    if (!this.embedFn) {
      const hits = await this.lexicalSearch(q, tokens, point, q.k);
      return hits.map((h) => ({ record: h.record, score: h.score, lexicalScore: h.score, similarity: null }));
    }
    // Candidate pools deeper than k so fusion can promote records ranked well by only one side.
    const depth = Math.max(q.k * 4, 50);
    const [vector] = await this.embed([q.query]);
    const [lex, vec] = await Promise.all([this.lexicalSearch(q, tokens, point, depth), this.vectorSearch(q, vector, point, depth)]);
    const fused = reciprocalRankFusion(
      [lex.map((h) => h.record.id), vec.map((h) => h.record.id)],
      [this.fusion.lexicalWeight, this.fusion.vectorWeight],
      this.fusion.k,
    );
    const byId = new Map<string, MemoryHit>();
    for (const h of lex) byId.set(h.record.id, { record: h.record, score: 0, lexicalScore: h.score, similarity: null });
    for (const h of vec) {
      const hit = byId.get(h.record.id) ?? { record: h.record, score: 0, lexicalScore: null, similarity: null };
      hit.similarity = h.similarity;
      byId.set(h.record.id, hit);
    }
    const hits = [...byId.values()];
    hits.forEach((h) => (h.score = fused.get(h.record.id) ?? 0));
    // Ties (same fused score) go to the newer record: the usual meaning of "current" for memories.
    hits.sort((a, b) => b.score - a.score || b.record.createdAt.localeCompare(a.record.createdAt));
    return hits.slice(0, q.k);
  }

  async forget(id: string, opts: ForgetOptions = {}): Promise<ForgetResult> {
    if (typeof id !== 'string' || id.length === 0) throw new MemoryError('invalid_input', 'id must be a non-empty string');
    return this.forgetTarget({ by: 'id', id }, parseInput(forgetOptionsSchema, opts, 'forget options'));
  }

  async forgetNamespace(namespace: string, opts: ForgetOptions = {}): Promise<ForgetResult> {
    const ns = parseInput(namespaceSchema, namespace, 'namespace');
    return this.forgetTarget({ by: 'namespace', namespace: ns }, parseInput(forgetOptionsSchema, opts, 'forget options'));
  }

  async forgetSession(sessionId: string, opts: ForgetOptions = {}): Promise<ForgetResult> {
    if (typeof sessionId !== 'string' || sessionId.length === 0) throw new MemoryError('invalid_input', 'sessionId must be a non-empty string');
    return this.forgetTarget({ by: 'session', sessionId }, parseInput(forgetOptionsSchema, opts, 'forget options'));
  }

  // ---- helpers -------------------------------------------------------------------------------
  protected async resolvePoint(asOf: NormalizedAsOf | undefined): Promise<number | null> {
    if (!asOf) return null;
    if ('at' in asOf) return this.pointAtTime(asOf.at);
    const { upTo, first } = await this.sessionPoints(asOf.sessionId, asOf.step);
    if (upTo !== null) return upTo;
    if (first !== null) return first - 1;
    throw new MemoryError(
      'not_found',
      `no memory operations recorded for session '${asOf.sessionId}'; use asOf: { at } with the step's time instead`,
    );
  }

  protected async embed(texts: string[]): Promise<number[][]> {
    if (!this.embedFn) throw new Error('no embed function configured');
    const out = await this.embedFn(texts);
    const parsed = embeddingsSchema.safeParse(out);
    if (!parsed.success || parsed.data.length !== texts.length) {
      throw new MemoryError('invalid_input', `embed() must return one finite, non-empty vector per text (${texts.length})`);
    }
    return parsed.data;
  }
}
