/**
 * Agent-facing memory tools. Provenance comes from the ToolContext (never from the model), and the
 * write's idempotency key is `ctx.idempotencyKey`, which is stable across activity retries and
 * workflow replays: a retried `remember` returns the record the first attempt wrote.
 *
 * Namespaces are a security boundary: the model may only name namespaces that `allowNamespace`
 * accepts (default: the default namespace and those below it), so a prompt-injected call cannot read
 * or forget another user's memories.
 */
import { z } from 'zod';
import { defineTool, type ToolContext, type ToolDefinition } from '../runtime/agent';
import { MEMORY_KINDS, MemoryError, namespaceSchema, type MemoryRecord, type MemoryStore } from './types';

export interface MemoryToolsOptions {
  /** Namespace used when the model gives none. Default `session/<sessionId>`. */
  defaultNamespace?: (ctx: ToolContext) => string;
  /** Which namespaces the model may name. Default: `defaultNamespace(ctx)` and `defaultNamespace(ctx)/...`. */
  allowNamespace?: (namespace: string, ctx: ToolContext) => boolean;
  /** Hits returned by `recall` when the model gives no k. Default 5. */
  defaultK?: number;
}

const rememberInput = z.object({
  text: z.string().min(1).max(4000).describe('The fact, preference or note to remember, self-contained.'),
  kind: z.enum(MEMORY_KINDS).optional().describe("What it is; default 'note'."),
  namespace: namespaceSchema.optional().describe('Where to store it; default: the agent’s own memory.'),
  supersedes: z.string().min(1).optional().describe('Id of an earlier memory this one replaces (e.g. a changed preference).'),
});

const recallInput = z.object({
  query: z.string().min(1).max(1000).describe('What to look for, in plain words.'),
  k: z.number().int().min(1).max(20).optional().describe('How many memories to return; default 5.'),
  namespace: namespaceSchema.optional().describe('Where to look; default: the agent’s own memory.'),
});

const forgetInput = z.object({
  id: z.string().min(1).describe('Id of the memory to forget (from remember or recall).'),
});

/** What the model sees of a record: enough to cite and act on it, no internal bookkeeping. */
function view(r: MemoryRecord): { id: string; kind: string; namespace: string; text: string; createdAt: string } {
  return { id: r.id, kind: r.kind, namespace: r.namespace, text: r.text, createdAt: r.createdAt };
}

export function memoryTools(store: MemoryStore, opts: MemoryToolsOptions = {}): ToolDefinition[] {
  const defaultNamespace = opts.defaultNamespace ?? ((ctx: ToolContext) => `session/${ctx.sessionId}`);
  const allow =
    opts.allowNamespace ??
    ((ns: string, ctx: ToolContext) => {
      const home = defaultNamespace(ctx);
      return ns === home || ns.startsWith(`${home}/`);
    });
  const defaultK = opts.defaultK ?? 5;

  const resolveNamespace = (requested: string | undefined, ctx: ToolContext): string => {
    const ns = requested ?? defaultNamespace(ctx);
    if (!allow(ns, ctx)) throw new MemoryError('invalid_input', `namespace '${ns}' is not accessible to this agent`);
    return ns;
  };

  const provenance = (ctx: ToolContext) => ({ sessionId: ctx.sessionId, step: ctx.seq, toolCallId: ctx.toolCallId });

  const remember = defineTool({
    name: 'remember',
    description:
      'Store a memory that should outlive this conversation: a fact about the user or the world, a preference, or a note. ' +
      'Returns its id. To update something remembered earlier, pass that memory’s id as `supersedes`.',
    input: rememberInput,
    // An external, durable effect, but idempotent by ctx.idempotencyKey: retrying it is safe.
    effects: 'write',
    maxAttempts: 3,
    async run(args, ctx) {
      const namespace = resolveNamespace(args.namespace, ctx);
      const record = await store.write({
        namespace,
        kind: args.kind ?? 'note',
        text: args.text,
        provenance: provenance(ctx),
        supersedes: args.supersedes,
        idempotencyKey: ctx.idempotencyKey,
      });
      return { remembered: view(record) };
    },
  });

  const recall = defineTool({
    name: 'recall',
    description: 'Search long-term memory. Returns the most relevant memories, best first, with their ids.',
    input: recallInput,
    effects: 'read',
    async run(args, ctx) {
      const namespace = resolveNamespace(args.namespace, ctx);
      const hits = await store.search({ query: args.query, k: args.k ?? defaultK, namespace });
      return { memories: hits.map((h) => ({ ...view(h.record), score: Number(h.score.toFixed(6)) })) };
    },
  });

  const forget = defineTool({
    name: 'forget',
    description: 'Forget a memory by id (e.g. it is wrong or the user asked). Summaries built from it are forgotten too.',
    input: forgetInput,
    effects: 'write',
    maxAttempts: 3,
    async run(args, ctx) {
      const record = await store.get(args.id);
      // Same answer for "unknown" and "not yours": ids from other namespaces must not be probeable.
      if (!record || !allow(record.namespace, ctx)) throw new MemoryError('not_found', `no memory '${args.id}'`);
      if (record.deletedAt) return { forgotten: [], note: 'already forgotten' };
      const result = await store.forget(args.id, { provenance: provenance(ctx), reason: 'forget tool' });
      return { forgotten: result.forgotten };
    },
  });

  return [remember, recall, forget];
}
