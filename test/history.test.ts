/**
 * History stays linear in the transcript: a 300-turn session adds about as many history bytes per
 * turn at turn 300 as at turn 10 (messages live in the session store; history carries references).
 */
import { temporal } from '@temporalio/proto';
import { startSession } from '../client/sessions';
import { openSessionStore } from '../runtime/store';
import { activityCalls } from './support/history';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

const TURNS = 300;

test(`a ${TURNS}-turn session: history bytes per turn at turn ${TURNS} are within 2x of turn 10`, async () => {
  // Each turn: the model asks for one tool call with a ~1 KB argument, the tool answers ~1 KB.
  h.model.setScript((req) => {
    const done = req.messages.filter((m) => m.role === 'tool').length;
    return done < TURNS
      ? { content: `step ${done}: ${'reasoning '.repeat(50)}`, toolCalls: [{ name: 'lookup_fact', arguments: { topic: `topic-${done}-${'x'.repeat(900)}` } }] }
      : { content: `finished ${done} turns` };
  });
  const s = await startSession(h.client, { agent: 'calculator', task: 'a very long task' }, h.config);
  const result = await s.handle.result();
  expect(result).toMatchObject({ status: 'completed', steps: TURNS + 1 });

  // Follow the chain of runs (the session continues as new when Temporal suggests it) and measure all of them.
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let runId: string | undefined = s.handle.firstExecutionRunId;
  let runs = 0;
  while (runId) {
    const runEvents: temporal.api.history.v1.IHistoryEvent[] = (await h.client.workflow.getHandle(s.sessionId, runId).fetchHistory()).events ?? [];
    events.push(...runEvents);
    runs++;
    runId = runEvents[runEvents.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  const bytes = (e: temporal.api.history.v1.IHistoryEvent): number => temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
  // A turn = every event from one model activity being scheduled to the next.
  const starts = activityCalls({ events }).filter((c) => c.type === 'callModel').map((c) => c.eventIndex);
  const perTurn = starts.slice(0, -1).map((start, k) => events.slice(start, starts[k + 1]).reduce((sum, e) => sum + bytes(e), 0));
  expect(perTurn).toHaveLength(TURNS);
  const at10 = perTurn[9];
  const at300 = perTurn[TURNS - 1];
  console.log(`history bytes per turn: turn 10 = ${at10}, turn ${TURNS} = ${at300}, ratio ${(at300 / at10).toFixed(3)}; ${events.length} events in ${runs} run(s)`);
  expect(at300 / at10).toBeLessThanOrEqual(2);
  expect(at300 / at10).toBeGreaterThanOrEqual(0.5);

  // The full transcript is in the store, each message once.
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const stats = await store.stats(s.sessionId);
  await store.close();
  expect(stats.count).toBe(2 + TURNS * 2 + 1);
  // The model saw the whole conversation on its last call (read from the store).
  expect(h.model.requests[h.model.requests.length - 1].messages).toHaveLength(2 + TURNS * 2);
}, 300_000);
