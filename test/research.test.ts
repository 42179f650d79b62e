/**
 * The research demo across sessions: session 1 studies a question with the sources and notes findings;
 * session 2, for the same user, answers the follow-up from recalled memory without re-reading them.
 */
import { FOLLOW_UP_QUESTION, RESEARCH_QUESTION, researchScript } from '../examples/agents/research/script';
import { openMemoryStore } from '../memory';
import { sessionState, startSession } from '../client/sessions';
import { openSessionStore } from '../runtime/store';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness(researchScript);
  await h.startWorker();
});
afterAll(async () => h?.close());

/** The tool-call log of a session: every tool call that ran (its result is in the session store), in order. */
async function toolLog(sessionId: string): Promise<Array<{ name: string; args: Record<string, unknown> }>> {
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  try {
    const messages = await store.list(sessionId);
    const ran = new Set(messages.filter((m) => m.message.role === 'tool' && m.meta?.tool).map((m) => String(m.message.toolCallId)));
    return messages.flatMap((m) =>
      ((m.meta?.turn as { toolCalls?: Array<{ id: string; name: string; args: Record<string, unknown> }> } | undefined)?.toolCalls ?? [])
        .filter((c) => ran.has(c.id))
        .map((c) => ({ name: c.name, args: c.args })),
    );
  } finally {
    await store.close();
  }
}

test('session 2 answers the follow-up from what session 1 noted, without re-reading the sources', async () => {
  const userId = 'researcher-test';
  const first = await startSession(h.client, { agent: 'research-assistant', task: RESEARCH_QUESTION, userId }, h.config);
  const r1 = await first.handle.result();
  expect(r1.status).toBe('completed');
  const log1 = await toolLog(first.sessionId);
  const read = log1.filter((c) => c.name === 'read_source').map((c) => c.args.id as string);
  const noted = log1.filter((c) => c.name === 'note_finding');
  expect(read.length).toBeGreaterThanOrEqual(2);
  expect(noted.map((c) => c.args.sourceIds)).toEqual(read.map((id) => [id]));

  const second = await startSession(h.client, { agent: 'research-assistant', task: FOLLOW_UP_QUESTION, userId }, h.config);
  const r2 = await second.handle.result();
  const log2 = await toolLog(second.sessionId);
  // The tool-call log shows no tool ran at all: no source was searched or read again...
  expect(log2).toEqual([]);
  // ...because the notes were recalled into its context and the answer cites them.
  const st2 = await sessionState(h.client, second.sessionId);
  const recalled = st2.memory?.recalled ?? [];
  const memory = await openMemoryStore(h.env.MEMORY_URL);
  try {
    const notes = (await memory.list(`user/${userId}`, { kinds: ['note'] })).filter((n) => n.provenance.sessionId === first.sessionId);
    expect(notes).toHaveLength(noted.length);
    const citedNotes = notes.filter((n) => r2.finalAnswer!.includes(n.id));
    expect(citedNotes.length).toBeGreaterThanOrEqual(2);
    expect(citedNotes.every((n) => recalled.includes(n.id))).toBe(true);
    // Provenance of a note points at the real session and the step of the tool call that wrote it.
    const store = openSessionStore(h.env.AGENT_STORE_URL);
    for (const n of notes) {
      const written = await store.get(first.sessionId, n.provenance.step!);
      expect(written?.message).toMatchObject({ role: 'tool', toolCallId: n.provenance.toolCallId });
    }
    await store.close();
  } finally {
    await memory.close();
  }
  // A different user gets no such head start: their session researches from scratch.
  const stranger = await startSession(h.client, { agent: 'research-assistant', task: FOLLOW_UP_QUESTION, userId: 'someone-else' }, h.config);
  await stranger.handle.result();
  expect((await toolLog(stranger.sessionId)).some((c) => c.name === 'read_source')).toBe(true);
});
