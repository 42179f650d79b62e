/**
 * The callModel activity with the in-process fake model and a real SQLite session store (no Temporal
 * server: MockActivityEnvironment). Covers the migration at the edge: a run carried over from before the
 * provider seam hands in OpenAI-shaped pending messages, and the model still sees a correct transcript.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';
import { createActivities } from '../../activities';
import { AgentRegistry, defineAgent, defineTool } from '../../runtime/agent';
import { FakeModelProvider } from '../../runtime/model';
import { SqliteSessionStore } from '../../runtime/store/sqlite';
import { withParentPrefix } from '../../runtime/store/links';
import type { ModelTurn } from '../../workflows/types';

const agent = defineAgent({
  name: 'notifier',
  instructions: 'You send notices.',
  model: 'fake-model',
  pricing: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
  tools: [defineTool({ name: 'send_notice', description: 'Sends a notice.', input: z.object({ recipient: z.string() }), approval: 'always', run: async () => 'sent' })],
});

let dir: string;
let store: SqliteSessionStore;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'call-model-'));
  store = new SqliteSessionStore(path.join(dir, 'sessions.sqlite'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function activities(model: FakeModelProvider) {
  return createActivities({ registry: new AgentRegistry([agent]), store: withParentPrefix(store), model, defaultModel: 'fake-model', searchAttributes: false, workspaceRoot: dir });
}

test('legacy pending messages (carried from an older run) are stored as they came and reach the model as neutral messages', async () => {
  const model = new FakeModelProvider([{ content: 'done' }]);
  const { callModel } = activities(model);
  const legacyPending = [
    { seq: 0, message: { role: 'system', content: 'You send notices.' }, meta: { pinned: true } },
    { seq: 1, message: { role: 'user', content: 'notify bo' } },
    { seq: 2, message: { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'send_notice', arguments: '{"recipient":"bo"}' } }] } },
    { seq: 3, message: { role: 'tool', tool_call_id: 'c1', content: 'The call was not run: rejected by ann.' } },
  ];
  const turn = await new MockActivityEnvironment().run(callModel, { sessionId: 's1', agent: 'notifier', model: 'fake-model', seq: 4, pending: legacyPending });
  expect(turn).toMatchObject({ seq: 4, content: 'done', toolCalls: [] });
  expect(model.requests[0].messages).toEqual([
    { role: 'system', content: 'You send notices.' },
    { role: 'user', content: 'notify bo' },
    { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'send_notice', arguments: '{"recipient":"bo"}' }] },
    { role: 'tool', toolCallId: 'c1', content: 'The call was not run: rejected by ann.' },
  ]);
  expect(model.requests[0].tools).toEqual([expect.objectContaining({ name: 'send_notice', parameters: expect.objectContaining({ type: 'object' }) })]);
  // The old rows are not rewritten; the new assistant message is stored neutral.
  expect((await store.get('s1', 3))?.message).toEqual({ role: 'tool', tool_call_id: 'c1', content: 'The call was not run: rejected by ann.' });
  expect((await store.get('s1', 4))?.message).toEqual({ role: 'assistant', content: 'done' });
});

test('tool calls are checked and stored neutral; a retried attempt reuses the stored answer without calling the model again', async () => {
  const model = new FakeModelProvider([{ toolCalls: [{ id: 'call_a', name: 'send_notice', arguments: { recipient: 'cy' } }, { id: 'call_b', name: 'nope', arguments: {} }] }]);
  const { callModel } = activities(model);
  const input = { sessionId: 's2', agent: 'notifier', model: 'fake-model', seq: 2, pending: [{ seq: 0, message: { role: 'system' as const, content: 'x' } }, { seq: 1, message: { role: 'user' as const, content: 'notify cy' } }] };
  const env = new MockActivityEnvironment();
  const first: ModelTurn = await env.run(callModel, input);
  expect(first.toolCalls).toEqual([
    expect.objectContaining({ id: 'call_a', name: 'send_notice', args: { recipient: 'cy' }, approval: expect.objectContaining({ argsHash: expect.stringMatching(/^[0-9a-f]{64}$/) }) }),
    expect.objectContaining({ id: 'call_b', name: 'nope', error: expect.stringContaining("unknown tool 'nope'") }),
  ]);
  expect((await store.get('s2', 2))?.message).toEqual({
    role: 'assistant',
    content: null,
    toolCalls: [
      { id: 'call_a', name: 'send_notice', arguments: '{"recipient":"cy"}' },
      { id: 'call_b', name: 'nope', arguments: '{}' },
    ],
  });
  const again = await env.run(callModel, input);
  expect(again).toEqual(first);
  expect(model.requests).toHaveLength(1);
});

test('a stored message no provider can read fails the call at once (non-retryable), naming the session and the role', async () => {
  const model = new FakeModelProvider([{ content: 'never' }]);
  const { callModel } = activities(model);
  await store.append('s3', [{ seq: 0, message: { role: 'function', name: 'f', content: 'x' } }]);
  const err = await new MockActivityEnvironment().run(callModel, { sessionId: 's3', agent: 'notifier', model: 'fake-model', seq: 1, pending: [] }).catch((e: unknown) => e);
  expect(err).toMatchObject({ nonRetryable: true, type: 'StoredMessageInvalid', message: expect.stringContaining('session s3: stored message has unknown role "function"') });
  expect(model.requests).toHaveLength(0);
});

describe('eager tools', () => {
  const reader = defineAgent({
    name: 'reader',
    instructions: 'You look things up.',
    model: 'fake-model',
    pricing: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
    tools: [
      defineTool({ name: 'lookup', description: 'Looks up.', input: z.object({ q: z.string() }), effects: 'read', timeoutMs: 5_000, run: async ({ q }) => ({ q, hit: true }) }),
      defineTool({ name: 'guarded', description: 'Needs approval.', input: z.object({ q: z.string() }), approval: 'always', run: async () => 'x' }),
    ],
  });
  const readerActivities = (model: FakeModelProvider) =>
    createActivities({ registry: new AgentRegistry([reader]), store: withParentPrefix(store), model, defaultModel: 'fake-model', searchAttributes: false, workspaceRoot: dir });
  const twoLookupsAndAGuarded = () =>
    new FakeModelProvider([
      {
        toolCalls: [
          { id: 'c1', name: 'lookup', arguments: { q: 'a' } },
          { id: 'c2', name: 'guarded', arguments: { q: 'b' } },
          { id: 'c3', name: 'lookup', arguments: { q: 'c' } },
        ],
      },
    ]);
  const input = { sessionId: 'e1', agent: 'reader', model: 'fake-model', seq: 2, pending: [{ seq: 1, message: { role: 'user' as const, content: 'look' } }], eagerTools: ['lookup'] };

  test('the named tools run under seq + 1 + index and are stored; a call needing approval is left to the workflow', async () => {
    const { callModel } = readerActivities(twoLookupsAndAGuarded());
    const turn: ModelTurn = await new MockActivityEnvironment({ startToCloseTimeoutMs: 60_000 }).run(callModel, input);
    expect(turn.eager).toEqual([expect.objectContaining({ ok: true, preview: '{"q":"a","hit":true}' }), null, expect.objectContaining({ ok: true, preview: '{"q":"c","hit":true}' })]);
    expect((await store.get('e1', 3))?.message).toEqual({ role: 'tool', toolCallId: 'c1', content: '{"q":"a","hit":true}' });
    expect(await store.get('e1', 4)).toBeUndefined();
    expect((await store.get('e1', 5))?.message).toEqual({ role: 'tool', toolCallId: 'c3', content: '{"q":"c","hit":true}' });
  });

  test('without eagerTools nothing runs; a tool that could not end before the activity times out is not started', async () => {
    const none: ModelTurn = await new MockActivityEnvironment().run(readerActivities(twoLookupsAndAGuarded()).callModel, { ...input, sessionId: 'e2', eagerTools: undefined });
    expect(none.eager).toBeUndefined();
    expect(await store.get('e2', 3)).toBeUndefined();
    // 3 s left of the activity's time, lookup may take 5 s: left to the workflow, which gives it its own timeout.
    const short: ModelTurn = await new MockActivityEnvironment({ startToCloseTimeoutMs: 3_000 }).run(
      readerActivities(twoLookupsAndAGuarded()).callModel,
      { ...input, sessionId: 'e3' },
    );
    expect(short.eager).toEqual([null, null, null]);
    expect(await store.get('e3', 3)).toBeUndefined();
  });
});
