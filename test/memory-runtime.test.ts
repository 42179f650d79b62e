/**
 * Automatic memory in real sessions: recall at start, episode summary at the end with provenance,
 * compaction that keeps the model's context under budget, forget cascading to what was derived.
 */
import { openMemoryStore, type MemoryStore } from '../memory';
import { sessionState, startSession } from '../client/sessions';
import {
  COMPACTED_CONTEXT_HEADER,
  COMPACTION_INSTRUCTIONS,
  MEMORY_CONTEXT_HEADER,
  SESSION_SUMMARY_INSTRUCTIONS,
} from '../runtime/memory-prompts';
import { messageText, type ChatRequest, type ScriptedTurn } from '../runtime/scripted-model';
import { openSessionStore } from '../runtime/store';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let memory: MemoryStore;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  memory = await openMemoryStore(h.env.MEMORY_URL);
});
afterAll(async () => {
  await memory?.close();
  await h?.close();
});

const firstSystem = (req: ChatRequest): string => messageText(req.messages.find((m) => m.role === 'system'));
const isAgentCall = (req: ChatRequest): boolean =>
  !firstSystem(req).startsWith(SESSION_SUMMARY_INSTRUCTIONS) && !firstSystem(req).startsWith(COMPACTION_INSTRUCTIONS);

/** Answers the runtime's own memory requests the way a model would. */
function memoryAware(agentTurn: (req: ChatRequest) => ScriptedTurn): (req: ChatRequest) => ScriptedTurn {
  return (req) => {
    const system = firstSystem(req);
    const body = messageText(req.messages[req.messages.length - 1]);
    if (system.startsWith(SESSION_SUMMARY_INSTRUCTIONS)) {
      const facts = [...body.matchAll(/\[calls remember\(\{"text":"([^"]+)"/g)].map((m) => `fact: ${m[1]}`);
      return { content: JSON.stringify({ episode: `The user asked for sums. ${facts.length} things were remembered.`, facts }) };
    }
    if (system.startsWith(COMPACTION_INSTRUCTIONS)) {
      const seqs = [...body.matchAll(/^#(\d+) /gm)].map((m) => Number(m[1]));
      return { content: `Compacted turns #${Math.min(...seqs)}-#${Math.max(...seqs)}: the user is counting with add; totals so far are in the tool results.` };
    }
    return agentTurn(req);
  };
}

test('memories written in one session are recalled at the start of the next, with provenance; forget cascades', async () => {
  h.model.setScript(
    memoryAware((req) => {
      const memoryContext = req.messages.find((m) => m.role === 'system' && messageText(m).startsWith(MEMORY_CONTEXT_HEADER));
      if (req.messages.some((m) => m.role === 'tool')) return { content: memoryContext ? `From memory: ${messageText(memoryContext).split('\n')[1]}` : 'Noted.' };
      if (memoryContext) return { content: `From memory: ${messageText(memoryContext).split('\n')[1]}` };
      return { toolCalls: [{ name: 'remember', arguments: { text: 'The user prefers results in euros', kind: 'preference' } }] };
    }),
  );
  const first = await startSession(h.client, { agent: 'memory-calculator', task: 'Remember that I prefer euros.', userId: 'u-mem' }, h.config);
  const r1 = await first.handle.result();
  expect(r1.finalAnswer).toBe('Noted.');
  const s1 = await sessionState(h.client, first.sessionId);
  expect(s1.memory?.episodeId).toBeDefined();

  const notes = await memory.list('user/u-mem');
  const preference = notes.find((r) => r.kind === 'preference')!;
  const episode = notes.find((r) => r.kind === 'episode')!;
  const fact = notes.find((r) => r.kind === 'fact')!;
  expect(preference.text).toBe('The user prefers results in euros');
  // Provenance points at the real workflow and the step (transcript seq) of the tool call that wrote it.
  expect(preference.provenance).toMatchObject({ sessionId: first.sessionId, step: 3 });
  const stored = await openSessionStore(h.env.AGENT_STORE_URL);
  const writer = await stored.get(first.sessionId, preference.provenance.step!);
  await stored.close();
  expect(writer?.message).toMatchObject({ role: 'tool', toolCallId: preference.provenance.toolCallId });
  expect(episode.provenance).toMatchObject({ sessionId: first.sessionId, runId: first.handle.firstExecutionRunId });
  expect(episode.derivedFrom).toEqual([preference.id]);
  expect(fact.text).toBe('fact: The user prefers results in euros');

  const second = await startSession(h.client, { agent: 'memory-calculator', task: 'What currency do I like, euros or dollars?', userId: 'u-mem' }, h.config);
  const r2 = await second.handle.result();
  expect(r2.finalAnswer).toContain('The user prefers results in euros');
  const s2 = await sessionState(h.client, second.sessionId);
  const recalledEntry = s2.transcript.find((e) => e.kind === 'memory');
  expect(recalledEntry?.text).toContain(`[${preference.id}] (preference, session ${first.sessionId} step 3)`);
  expect(s2.memory?.recalled).toContain(preference.id);

  // Forgetting the first session takes what was derived from it along...
  const beforeForget = new Date();
  await new Promise((r) => setTimeout(r, 5));
  const { forgotten } = await memory.forgetSession(first.sessionId);
  expect(forgotten).toEqual(expect.arrayContaining([preference.id, episode.id, fact.id]));
  const after = await memory.search({ query: 'euros', namespace: 'user/u-mem' });
  expect(after.filter((hit) => hit.record.provenance.sessionId === first.sessionId)).toEqual([]);
  // ...while a point-in-time query still shows what the agent knew before.
  const then = await memory.search({ query: 'euros', namespace: 'user/u-mem', asOf: { at: beforeForget } });
  expect(then.map((hit) => hit.record.id)).toContain(preference.id);
});

test('compaction keeps every model call of a 200-turn session under the context budget, and the summary is used', async () => {
  const TURNS = 200;
  const BUDGET = 4000;
  h.model.setScript(
    memoryAware((req) => {
      const done = req.messages.filter((m) => m.role === 'tool').length;
      const last = req.messages[req.messages.length - 1];
      const total = last.role === 'tool' ? JSON.parse(messageText(last)).sum : 0;
      const step = Number(/step (\d+)/.exec(messageText(req.messages.filter((m) => m.role === 'assistant').pop()))?.[1] ?? 0);
      return step < TURNS
        ? { content: `step ${step + 1}: adding, total ${total}, note-${step + 1}${step + 1 === 5 ? ' (milestone zebra)' : ''}`, toolCalls: [{ name: 'add', arguments: { a: total, b: 1 } }] }
        : { content: `final total ${total} after ${done} visible tool results` };
    }),
  );
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'memory-calculator', task: 'Count to 200 with add, one step at a time.' }, h.config);
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toMatch(/^final total 200 /);

  const agentCalls = h.model.requests.slice(before).filter(isAgentCall);
  const contextTokens = agentCalls.map((r) => Math.ceil(JSON.stringify(r.messages).length / 4));
  expect(Math.max(...contextTokens)).toBeLessThanOrEqual(BUDGET);
  const st = await sessionState(h.client, s.sessionId);
  expect(st.memory?.compactions).toBeGreaterThanOrEqual(3);
  // The summary stands in for the compacted turns in the model's context.
  const lastCall = agentCalls[agentCalls.length - 1];
  expect(lastCall.messages.some((m) => messageText(m).startsWith(COMPACTED_CONTEXT_HEADER))).toBe(true);
  expect(lastCall.messages.some((m) => messageText(m).includes('note-5,'))).toBe(false);
  // The originals stay in the session store and are searchable in memory.
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const all = await store.list(s.sessionId);
  await store.close();
  expect(all.filter((m) => m.message.role === 'tool')).toHaveLength(TURNS);
  const hits = await memory.search({ query: 'milestone zebra', namespace: `session/${s.sessionId}` });
  expect(hits[0]?.record.text).toContain('note-5 (milestone zebra)');
}, 300_000);

test('with an embeddings endpoint configured, memory search is hybrid and embeds over the OpenAI wire format', async () => {
  const hybrid = await createHarness([], { EMBEDDING_MODEL: 'scripted-embeddings' });
  try {
    const worker = await hybrid.startWorker();
    expect(worker.memory.searchMode).toBe('hybrid');
    hybrid.model.setScript(
      memoryAware((req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'remembered' }
          : { toolCalls: [{ name: 'remember', arguments: { text: 'Sunflowers are the favourite flower of the user' } }] },
      ),
    );
    const s = await startSession(hybrid.client, { agent: 'memory-calculator', task: 'remember my flower', userId: 'u-hybrid' }, hybrid.config);
    await s.handle.result();
    expect(hybrid.model.embedded).toContain('Sunflowers are the favourite flower of the user');
    const hits = await worker.memory.search({ query: 'favourite flower', namespace: 'user/u-hybrid' });
    expect(hits[0].record.text).toBe('Sunflowers are the favourite flower of the user');
    expect(hits[0].similarity).toBeGreaterThan(0);
  } finally {
    await hybrid.close();
  }
});

test('automatic memory never ends a session: a failing summary call is recorded and the session completes', async () => {
  h.model.setScript((req) =>
    firstSystem(req).startsWith(SESSION_SUMMARY_INSTRUCTIONS)
      ? { error: { status: 400, message: 'summary model rejected the request', type: 'invalid_request_error' } }
      : { content: 'four' },
  );
  const s = await startSession(h.client, { agent: 'memory-calculator', task: 'what is 2+2?', userId: 'u-fail' }, h.config);
  const result = await s.handle.result();
  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'four' });
  const st = await sessionState(h.client, s.sessionId);
  expect(st.memory?.errors).toEqual([expect.stringMatching(/^episode summary: .*400/)]);
  expect(st.memory?.episodeId).toBeUndefined();
});
