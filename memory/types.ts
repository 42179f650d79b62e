/**
 * Long-term memory for agents: the public types, the input schemas (zod, checked at the store
 * boundary because inputs come from tool calls and other processes) and the `MemoryStore` contract
 * that both backends (SQLite, PostgreSQL) implement and one shared test suite checks.
 */
import { z } from 'zod';

export const MEMORY_KINDS = ['fact', 'preference', 'note', 'episode', 'summary'] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** Where a memory came from; `step`/`toolCallId` match the session transcript. */
export interface Provenance {
  sessionId: string;
  runId?: string;
  step?: number;
  toolCallId?: string;
}

export interface MemoryRecord {
  id: string;
  /** e.g. `user/<id>`, `agent/<name>`, `session/<id>`. */
  namespace: string;
  kind: MemoryKind;
  text: string;
  metadata: Record<string, unknown>;
  provenance: Provenance;
  /** ISO 8601 (ms). Strings rather than Dates: records cross Temporal payloads and tool results as JSON. */
  createdAt: string;
  /** Id of the record this one replaces (same namespace). The older one stays readable via get(). */
  supersedes: string | null;
  /** Set by forget*; the record stays readable via get() and point-in-time queries (soft delete). */
  deletedAt: string | null;
  /** Ids a summary/episode was built from; forgetting any of them forgets this record too. */
  derivedFrom: string[];
  idempotencyKey: string | null;
  /** Present only when the record was written with search context. */
  context?: string;
}

export interface MemoryWriteInput {
  namespace: string;
  /** Default 'note'. */
  kind?: MemoryKind;
  text: string;
  metadata?: Record<string, unknown>;
  provenance: Provenance;
  supersedes?: string;
  derivedFrom?: string[];
  /** Unique across the store: a repeated write with the same key returns the existing record. */
  idempotencyKey?: string;
  /**
   * Extra text indexed for lexical search with a lower weight than `text` (e.g. the neighbouring turns
   * of a conversation turn, its date). Not embedded and not part of the memory's content.
   */
  context?: string;
}

/**
 * A point in the store's history. `{ at }`: wall-clock time. `{ sessionId, step }`: just after the
 * last memory operation (write or forget) that session made at a step <= `step`; when it made none
 * by then, just before its first operation. Writes by other sessions between that operation and the
 * moment the step actually ran are therefore not visible (the store only knows its own operations).
 */
export type AsOf = { at: Date | string | number } | { sessionId: string; step: number };

export interface MemorySearchQuery {
  query: string;
  /** Hits to return; default 10, at most 100. */
  k?: number;
  /** Exact namespace, or any of several. */
  namespace?: string | string[];
  /** Raw string prefix, e.g. `user/` for every user namespace. */
  namespacePrefix?: string;
  kinds?: MemoryKind[];
  asOf?: AsOf;
  /** Also return records that a later (live) record supersedes. Default false. */
  includeSuperseded?: boolean;
}

export interface MemoryHit {
  record: MemoryRecord;
  /**
   * Higher is better. Lexical only: the backend's relevance (SQLite -bm25, PostgreSQL ts_rank), not
   * comparable across backends. Hybrid: reciprocal-rank fusion of the lexical and vector rankings.
   */
  score: number;
  /** Backend relevance when the record matched lexically, else null. */
  lexicalScore: number | null;
  /** Cosine similarity when embeddings were used and the record was a vector candidate, else null. */
  similarity: number | null;
}

export interface MemoryListOptions {
  asOf?: AsOf;
  kinds?: MemoryKind[];
  includeSuperseded?: boolean;
  /** Also return soft-deleted records. Default false. */
  includeDeleted?: boolean;
  /** Default 1000. Oldest first. */
  limit?: number;
}

export interface ForgetOptions {
  /** Who forgot: recorded in the operation log, and what `asOf: { sessionId, step }` resolves against. */
  provenance?: Provenance;
  reason?: string;
}

export interface ForgetResult {
  /** Ids soft-deleted by this call: the targets and, transitively, records derived from them. */
  forgotten: string[];
}

/** Local or remote embedding model. Optional: without it search is lexical only. */
export type EmbedFunction = (texts: string[]) => Promise<number[][]>;

/**
 * Hybrid ranking: weighted reciprocal-rank fusion, score = lexicalWeight / (k + lexical rank) +
 * vectorWeight / (k + vector rank). Defaults (DEFAULT_FUSION) were tuned on the tuning half of the
 * retrieval benchmark (examples/bench/memory-quality.ts --tune).
 */
export interface FusionOptions {
  lexicalWeight?: number;
  vectorWeight?: number;
  k?: number;
}

export interface MemoryStoreCommonOptions {
  embed?: EmbedFunction;
  fusion?: FusionOptions;
  /** Lexical weight of a record's `context` relative to its `text` (1.0), in [0, 1]. Default CONTEXT_WEIGHT (query.ts). */
  contextWeight?: number;
  /** Time source in ms; injectable for deterministic point-in-time tests. Default Date.now. */
  clock?: () => number;
}

export interface MemoryStore {
  readonly backend: 'sqlite' | 'postgres';
  /** Lexical-only, or hybrid with the given vector implementation. */
  readonly searchMode: 'lexical' | 'hybrid';
  write(input: MemoryWriteInput): Promise<MemoryRecord>;
  /** One transaction; keys repeated inside the batch or already stored return the existing record. */
  writeMany(inputs: MemoryWriteInput[]): Promise<MemoryRecord[]>;
  /** Any record, including superseded and soft-deleted ones; null when the id is unknown. */
  get(id: string): Promise<MemoryRecord | null>;
  search(query: MemorySearchQuery): Promise<MemoryHit[]>;
  /** Records in exactly this namespace, oldest first. */
  list(namespace: string, opts?: MemoryListOptions): Promise<MemoryRecord[]>;
  forget(id: string, opts?: ForgetOptions): Promise<ForgetResult>;
  /** The namespace and every namespace below it (`ns/...`), plus records derived from them. */
  forgetNamespace(namespace: string, opts?: ForgetOptions): Promise<ForgetResult>;
  /** Every record whose provenance is this session, plus records derived from them. */
  forgetSession(sessionId: string, opts?: ForgetOptions): Promise<ForgetResult>;
  close(): Promise<void>;
}

export type MemoryErrorCode = 'invalid_input' | 'not_found' | 'conflict';

export class MemoryError extends Error {
  constructor(
    readonly code: MemoryErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MemoryError';
  }
}

// ---------------------------------------------------------------------------------------------
// Boundary schemas. Limits keep one bad tool call from bloating the store or the FTS index.

export const MAX_TEXT_CHARS = 32_000;
export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_CONTEXT_CHARS = 8_000;

// No whitespace/control characters: namespaces are identifiers, and `forgetNamespace` matches `ns/` children.
export const namespaceSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s\p{Cc}]+$/u, 'namespace must not contain whitespace or control characters')
  .refine((s) => !s.endsWith('/'), 'namespace must not end with /');

export const provenanceSchema = z.object({
  sessionId: z.string().min(1).max(512),
  runId: z.string().min(1).max(512).optional(),
  step: z.number().int().min(0).optional(),
  toolCallId: z.string().min(1).max(512).optional(),
});

const metadataSchema = z.record(z.string(), z.unknown()).superRefine((m, ctx) => {
  let json: string | undefined;
  try {
    json = JSON.stringify(m);
  } catch {
    json = undefined;
  }
  if (json === undefined) ctx.addIssue({ code: 'custom', message: 'metadata must be JSON-serialisable' });
  else if (Buffer.byteLength(json) > MAX_METADATA_BYTES) ctx.addIssue({ code: 'custom', message: `metadata over ${MAX_METADATA_BYTES} bytes` });
});

export const writeInputSchema = z.object({
  namespace: namespaceSchema,
  kind: z.enum(MEMORY_KINDS).default('note'),
  text: z
    .string()
    .max(MAX_TEXT_CHARS)
    .refine((s) => s.trim().length > 0, 'text must not be empty'),
  metadata: metadataSchema.default({}),
  provenance: provenanceSchema,
  supersedes: z.string().min(1).optional(),
  derivedFrom: z.array(z.string().min(1)).max(1000).default([]),
  idempotencyKey: z.string().min(1).max(512).optional(),
  context: z.string().max(MAX_CONTEXT_CHARS).optional(),
});
export type NormalizedWrite = z.output<typeof writeInputSchema>;

const timeSchema = z.union([z.date(), z.string().min(1), z.number()]).transform((v, ctx) => {
  const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `invalid time: ${String(v)}` });
    return z.NEVER;
  }
  return ms;
});

export const asOfSchema = z.union([
  z.object({ at: timeSchema }).strict(),
  z.object({ sessionId: z.string().min(1), step: z.number().int().min(0) }).strict(),
]);
export type NormalizedAsOf = z.output<typeof asOfSchema>;

const kindsSchema = z.array(z.enum(MEMORY_KINDS)).min(1).optional();

export const searchQuerySchema = z.object({
  query: z.string().max(4096),
  k: z.number().int().min(1).max(100).default(10),
  namespace: z.union([namespaceSchema, z.array(namespaceSchema).min(1).max(100)]).optional(),
  namespacePrefix: z.string().min(1).max(256).optional(),
  kinds: kindsSchema,
  asOf: asOfSchema.optional(),
  includeSuperseded: z.boolean().default(false),
});
export type NormalizedSearch = z.output<typeof searchQuerySchema>;

export const listOptionsSchema = z.object({
  asOf: asOfSchema.optional(),
  kinds: kindsSchema,
  includeSuperseded: z.boolean().default(false),
  includeDeleted: z.boolean().default(false),
  limit: z.number().int().min(1).max(100_000).default(1000),
});
export type NormalizedList = z.output<typeof listOptionsSchema>;

export const forgetOptionsSchema = z.object({
  provenance: provenanceSchema.optional(),
  reason: z.string().max(1000).optional(),
});
export type NormalizedForget = z.output<typeof forgetOptionsSchema>;

/** zod errors become MemoryError('invalid_input') so callers (and tools) see one error type. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const detail = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new MemoryError('invalid_input', `invalid ${what}: ${detail}`);
  }
  return r.data;
}
