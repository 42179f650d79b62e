/**
 * The built-in waits at their real lengths on the time-skipping test server: a 3-day `wait` and a
 * `wait_for_event` that gets its event on day 2, or times out. The agent's spec comes from the real
 * defineAgent/agentSpec (the tools and policy a worker would serve); activities are mocked.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { defineAgent, agentSpec } from '../../runtime/agent';
import { eventSignal, stateQuery } from '../../workflows/messages';
import { agentSession } from '../../workflows';
import { WAITS_PATCH } from '../../workflows/session/patches';
import type { CheckedToolCall, RunSpec } from '../../workflows/types';
import { DAY_MS, mockActivities, sessionWorker, timeSkippingEnv } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => env?.teardown());

const agent = defineAgent({ name: 'collector', instructions: 'You collect payments.', model: 'fake-model', pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 }, tools: [], waits: { maxWaitMs: 5 * DAY_MS, events: ['payment_received'] } });
const spec: RunSpec = { ...agentSpec(agent, 'fake-model'), searchAttributes: false, heartbeatTimeoutMs: 20_000, sandboxMode: 'none' };

const call = (id: string, name: string, args: Record<string, unknown>): CheckedToolCall => ({ id, name, args, summary: `${name}(…)` });
const toolText = (pending: Array<{ message: unknown }>): string => String((pending.find((p) => (p.message as { role?: string }).role === 'tool')?.message as { content?: string })?.content);

test('defineAgent adds the built-in tools, bounded by the policy; the spec carries the policy', () => {
  expect(spec.tools.map((t) => [t.name, t.builtin])).toEqual([['wait', 'wait'], ['wait_for_event', 'wait_for_event']]);
  expect(spec.waits).toEqual({ maxWaitMs: 5 * DAY_MS, events: ['payment_received'] });
  const wait = agent.tools.find((t) => t.name === 'wait')!;
  expect(wait.input.safeParse({ seconds: 5 * 86400 }).success).toBe(true);
  expect(wait.input.safeParse({ seconds: 5 * 86400 + 1 }).success).toBe(false);
  const forEvent = agent.tools.find((t) => t.name === 'wait_for_event')!;
  expect(forEvent.input.safeParse({ event: 'refund_sent', timeoutSeconds: 60 }).success).toBe(false);
  expect(() => defineAgent({ ...agent, waits: { maxWaitMs: 400 * DAY_MS } })).toThrow(/waits.maxWaitMs must be an integer from 1000/);
  expect(() => defineAgent({ ...agent, waits: { events: ['Payment Received'] } })).toThrow(/waits.events entry "Payment Received"/);
  // Defining a defined agent again does not add the tools twice.
  expect(defineAgent(agent).tools.map((t) => t.name)).toEqual(['wait', 'wait_for_event']);
});

test('a 3-day wait is a durable timer: it passes, no activity runs for it, and the model is told how long it waited', async () => {
  const mocked = mockActivities(spec, (input, i) =>
    i === 0 ? { content: null, toolCalls: [call('w1', 'wait', { seconds: 3 * 86400, reason: 'check again in 3 days' })] } : { content: `after: ${toolText(input.pending)}` },
  );
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const started = await env.currentTimeMs();
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'wait-3d', args: [{ agent: 'collector', task: 'collect' }] });
    const r = await handle.result();
    return { r, state: await handle.query(stateQuery), history: await handle.fetchHistory() };
  });
  const elapsed = (await env.currentTimeMs()) - started;
  expect(out.r.status).toBe('completed');
  expect(elapsed).toBeGreaterThanOrEqual(3 * DAY_MS);
  expect(mocked.toolRuns).toHaveLength(0);
  expect(out.r.finalAnswer).toMatch(/^after: Waited 3d \(259200\d{3} ms\)/);
  expect(out.state.waiting).toBeUndefined();
  const events = out.history.events ?? [];
  const timers = events.filter((e) => e.timerStartedEventAttributes);
  expect(timers).toHaveLength(1);
  expect(Number(timers[0].timerStartedEventAttributes!.startToFireTimeout!.seconds)).toBe(3 * 86400);
  // The timer's summary is what the Web UI shows next to it.
  expect(JSON.stringify(timers[0].userMetadata?.summary?.data ? Buffer.from(timers[0].userMetadata.summary.data).toString() : '')).toMatch(/wait 3d: check again in 3 days/);
  // The new behaviour is marked for replay.
  const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
  const markerText = markers.flatMap((m) => Object.values(m.markerRecordedEventAttributes!.details ?? {}).flatMap((p) => p.payloads ?? []).map((p) => Buffer.from(p.data!).toString()));
  expect(markerText).toContainEqual(expect.stringContaining(WAITS_PATCH));
});

test('wait_for_event: the payment arrives on day 2, the model gets its payload; the Web UI details say what is waited for', async () => {
  const mocked = mockActivities(spec, (input, i) =>
    i === 0 ? { content: null, toolCalls: [call('e1', 'wait_for_event', { event: 'payment_received', timeoutSeconds: 4 * 86400 })] } : { content: `got: ${toolText(input.pending)}` },
  );
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'event-day2', args: [{ agent: 'collector', task: 'collect' }] });
    // Wait until the model's call is in progress, then let two days pass.
    for (let i = 0; i < 100 && !(await handle.query(stateQuery)).waiting; i++) await new Promise((r) => setTimeout(r, 50));
    const waiting = await handle.query(stateQuery);
    // What the Web UI shows as the workflow's current details.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    await env.sleep(2 * DAY_MS);
    // Refused: an event this agent does not list, and a malformed one; neither wakes the wait.
    await handle.signal(eventSignal, { name: 'refund_sent', payload: {} });
    await handle.signal(eventSignal, { name: 'payment_received', payload: 'x'.repeat(20_000) });
    await handle.signal(eventSignal, { name: 'payment_received', payload: { amount: 120, currency: 'EUR' }, id: 'pay-1' });
    // A re-send with the same id is taken once.
    await handle.signal(eventSignal, { name: 'payment_received', payload: { amount: 120, currency: 'EUR' }, id: 'pay-1' });
    const r = await handle.result();
    return { r, waiting, details: metadata.currentDetails, state: await handle.query(stateQuery) };
  });
  expect(out.waiting.waiting).toEqual([expect.objectContaining({ tool: 'wait_for_event', event: 'payment_received' })]);
  expect(out.details).toMatch(/^Waiting for event 'payment_received' until \d{4}-/);
  expect(out.r.finalAnswer).toMatch(/^got: Event 'payment_received' received at .* \(id pay-1\) after 2d; payload: \{"amount":120,"currency":"EUR"\}$/);
  expect(out.state.rejectedMessages.map((m) => m.reason)).toEqual([
    expect.stringMatching(/event 'refund_sent' is not one this agent waits for \(payment_received\)/),
    expect.stringMatching(/malformed event: payload is larger than 16384 bytes/),
  ]);
  expect(out.state.events ?? []).toEqual([]);
  expect(mocked.toolRuns).toHaveLength(0);
});

test('wait_for_event times out after its timeout and the model is told; the next wait times out too', async () => {
  const mocked = mockActivities(spec, (input, i) =>
    i === 0
      ? { content: null, toolCalls: [call('e1', 'wait_for_event', { event: 'payment_received', timeoutSeconds: 86400 })] }
      : i === 1
        ? { content: `first: ${toolText(input.pending)}`, toolCalls: [call('e2', 'wait_for_event', { event: 'payment_received', timeoutSeconds: 86400 })] }
        : { content: `second: ${toolText(input.pending)}` },
  );
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const started = await env.currentTimeMs();
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'event-timeout', args: [{ agent: 'collector', task: 'collect' }] });
    return handle.result();
  });
  expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(2 * DAY_MS);
  expect(toolText(mocked.modelCalls[1].pending)).toBe("Timed out: no 'payment_received' event within 1d.");
  expect(out.finalAnswer).toBe("second: Timed out: no 'payment_received' event within 1d.");
});

test('an event that arrives before the model asks for it (here: during a wait) is kept and taken at once, with no timer of its own', async () => {
  const mocked = mockActivities(spec, (input, i) =>
    i === 0
      ? { content: null, toolCalls: [call('w1', 'wait', { seconds: 3600 })] }
      : i === 1
        ? { content: null, toolCalls: [call('e1', 'wait_for_event', { event: 'payment_received', timeoutSeconds: 86400 })] }
        : { content: `got: ${toolText(input.pending)}` },
  );
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'event-early', args: [{ agent: 'collector', task: 'collect' }] });
    for (let i = 0; i < 100 && !(await handle.query(stateQuery)).waiting; i++) await new Promise((r) => setTimeout(r, 50));
    await handle.signal(eventSignal, { name: 'payment_received', payload: { amount: 5 } });
    const buffered = (await handle.query(stateQuery)).events;
    const r = await handle.result();
    return { r, buffered, history: await handle.fetchHistory() };
  });
  expect(out.buffered).toEqual([expect.objectContaining({ name: 'payment_received', payload: { amount: 5 } })]);
  expect(out.r.finalAnswer).toMatch(/^got: Event 'payment_received' received at .* after 0s; payload: \{"amount":5\}$/);
  // Only the one-hour wait's timer: the event wait found its event and started none.
  expect((out.history.events ?? []).filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
});
