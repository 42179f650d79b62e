/**
 * A session continued as new by older code carries a v1 (unversioned) state. Today's worker must pick
 * it up: the input below is the real continue-as-new input of a recorded v1 run
 * (test/replay/histories/continued-as-new-first-run.json), started on a real dev server.
 */
import { sessionState } from '../client/sessions';
import { openSessionStore } from '../runtime/store';
import { agentSession } from '../workflows/agentSession';
import type { SessionInput, TranscriptEntry } from '../workflows/types';
import { createHarness, type Harness } from './support/harness';
import { recordedV1Carry, storedRows } from './support/recorded-carry';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

test('a run started from a recorded v1 carry migrates it and finishes the session', async () => {
  const { input } = recordedV1Carry();
  const sessionId = `carry-v1-${Date.now()}`;
  const transcript = (input.carry.state as { transcript: TranscriptEntry[] }).transcript;
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  await store.append(sessionId, storedRows(transcript));
  await store.close();
  h.model.setScript((req) => {
    const n = req.messages.filter((m) => m.role === 'tool').length;
    return n < 4 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `counted to ${n}` };
  });

  const handle = await h.client.workflow.start(agentSession, {
    taskQueue: h.config.TASK_QUEUE,
    workflowId: sessionId,
    args: [input as unknown as SessionInput],
  });
  const result = await handle.result();
  // Three steps carried, one more tool step and the answer in this run.
  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'counted to 4', steps: 5 });
  const st = await sessionState(h.client, sessionId);
  expect(st.run).toBe(2);
  expect(st.transcript.map((e) => e.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i));
});
