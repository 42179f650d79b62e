/**
 * The agent-facing memory tools, against both backends: provenance and idempotency come from the
 * ToolContext, and namespaces the agent may not access stay invisible.
 */
import { toolSpec, type ToolContext, type ToolDefinition } from '../../runtime/agent';
import { memoryTools, type MemoryStore } from '../../memory';
import { backends, type Backend } from './backends';

function ctx(over: Partial<ToolContext> = {}): ToolContext {
  const sessionId = over.sessionId ?? 'wf-session-1';
  const step = over.step ?? 3;
  const toolCallId = over.toolCallId ?? `call_${step}`;
  return {
    sessionId,
    seq: step,
    step,
    attempt: 1,
    toolCallId,
    idempotencyKey: over.idempotencyKey ?? `${sessionId}:${step}:${toolCallId}`,
    workspaceDir: '/tmp/unused',
    secrets: {},
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    heartbeat: () => undefined,
    signal: new AbortController().signal,
    ...over,
  };
}

/** Runs a tool the way the worker does: arguments parsed by the tool's own schema first. */
async function call(tool: ToolDefinition, args: unknown, c: ToolContext): Promise<Record<string, unknown>> {
  return (await tool.run(tool.input.parse(args), c)) as Record<string, unknown>;
}

describe.each(backends())('memory tools on $name', (backend: Backend) => {
  if (backend.skipReason) {
    // Only outside CI: in CI the PostgreSQL harness must run, so a missing server fails here.
    it(`skipped: ${backend.skipReason}`, () => expect(process.env.CI).toBeFalsy());
    return;
  }
  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  afterEach(() => backend.closeAll());

  let store: MemoryStore;
  let remember: ToolDefinition;
  let recall: ToolDefinition;
  let forget: ToolDefinition;
  beforeEach(async () => {
    ({ store } = await backend.open());
    [remember, recall, forget] = memoryTools(store, { defaultNamespace: () => 'user/alice' });
  });

  it('exposes three tools with JSON-schema parameters and retry-safe effects', () => {
    const specs = [remember, recall, forget].map(toolSpec);
    expect(specs.map((s) => s.name)).toEqual(['remember', 'recall', 'forget']);
    expect(specs[0]).toMatchObject({ effects: 'write', maxAttempts: 3, approval: 'never' });
    expect(specs[1]).toMatchObject({ effects: 'read' });
    expect(specs[0].parameters).toMatchObject({ type: 'object', required: ['text'] });
    expect(specs[1].parameters).toMatchObject({ type: 'object', required: ['query'] });
  });

  it('remember records provenance from the context and is idempotent per tool call', async () => {
    const c = ctx({ step: 7, toolCallId: 'call_pref' });
    const first = await call(remember, { text: 'Alice prefers window seats', kind: 'preference' }, c);
    const retry = await call(remember, { text: 'Alice prefers window seats', kind: 'preference' }, c);
    expect(retry).toEqual(first);
    const id = (first.remembered as { id: string }).id;
    expect(await store.get(id)).toMatchObject({
      namespace: 'user/alice',
      kind: 'preference',
      provenance: { sessionId: 'wf-session-1', step: 7, toolCallId: 'call_pref' },
      idempotencyKey: c.idempotencyKey,
    });
    expect(await store.list('user/alice')).toHaveLength(1);
  });

  it('recall returns the best matches with ids; supersedes updates a memory', async () => {
    const r1 = await call(remember, { text: 'Alice prefers aisle seats', kind: 'preference' }, ctx({ step: 1 }));
    await call(remember, { text: 'Alice is flying to Oslo on Friday', kind: 'fact' }, ctx({ step: 2 }));
    const oldId = (r1.remembered as { id: string }).id;
    await call(remember, { text: 'Alice now prefers window seats', kind: 'preference', supersedes: oldId }, ctx({ step: 3 }));
    const out = await call(recall, { query: 'which seats does Alice prefer?' }, ctx({ step: 4 }));
    const memories = out.memories as Array<{ id: string; text: string; score: number }>;
    expect(memories[0].text).toBe('Alice now prefers window seats');
    expect(memories.map((m) => m.id)).not.toContain(oldId);
  });

  it('forget soft-deletes by id and is safe to retry', async () => {
    const r = await call(remember, { text: 'Alice shoe size 38' }, ctx({ step: 1 }));
    const id = (r.remembered as { id: string }).id;
    expect(await call(forget, { id }, ctx({ step: 2 }))).toEqual({ forgotten: [id] });
    expect(await call(forget, { id }, ctx({ step: 2 }))).toMatchObject({ forgotten: [] });
    expect((await call(recall, { query: 'shoe size' }, ctx({ step: 3 }))).memories).toEqual([]);
    // The forget is in the operation log under the session/step that made it.
    const before = await store.search({ query: 'shoe size', asOf: { sessionId: 'wf-session-1', step: 1 } });
    expect(before.map((h) => h.record.id)).toEqual([id]);
  });

  it('keeps other namespaces out of reach', async () => {
    const other = await store.write({ namespace: 'user/bob', text: 'Bob secret: likes opera', provenance: { sessionId: 'x' } });
    await expect(call(recall, { query: 'opera', namespace: 'user/bob' }, ctx())).rejects.toThrow(/not accessible/);
    await expect(call(remember, { text: 'x', namespace: 'user/bob' }, ctx())).rejects.toThrow(/not accessible/);
    await expect(call(forget, { id: other.id }, ctx())).rejects.toThrow(/no memory/);
    await expect(call(remember, { text: 'hijack', supersedes: other.id }, ctx())).rejects.toThrow(/namespace/);
    expect((await call(recall, { query: 'opera' }, ctx())).memories).toEqual([]);
    // Below the default namespace is allowed.
    await call(remember, { text: 'work laptop is a ThinkPad', namespace: 'user/alice/work' }, ctx());
    expect((await call(recall, { query: 'laptop', namespace: 'user/alice/work' }, ctx())).memories).toHaveLength(1);
    expect(await store.get(other.id)).toMatchObject({ deletedAt: null });
  });

  it('defaults to a per-session namespace', async () => {
    const [rem] = memoryTools(store);
    const r = await call(rem, { text: 'scratch note' }, ctx({ sessionId: 'wf-42' }));
    expect((r.remembered as { namespace: string }).namespace).toBe('session/wf-42');
  });
});
