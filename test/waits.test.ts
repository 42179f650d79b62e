/**
 * Waits and recurring agents end to end on the dev server: a session whose model calls `wait_for_event`
 * gets the event sent with `sendEvent` (real worker, scripted model over HTTP); an agent schedule runs a
 * session when triggered and reflects pause/unpause. Time-skipping tests of day-long waits: test/workflow/waits.test.ts.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createHarness, type Harness } from './support/harness';
import { sendEvent, startSession, waitForState } from '../client/sessions';
import { deleteAgentSchedule, listAgentSchedules, pauseAgentSchedule, scheduleAgent, triggerAgentSchedule, unpauseAgentSchedule } from '../client/schedules';
import { lastMessage, messageText } from '../runtime/scripted-model';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

/** Waits for payment_received, then answers with what the tool result said. */
const collectScript = () =>
  h.model.setScript((req) => {
    const last = lastMessage(req);
    if (last?.role === 'tool') return { content: `confirmed: ${messageText(last)}` };
    return { toolCalls: [{ name: 'wait_for_event', arguments: { event: 'payment_received', timeoutSeconds: 3600, reason: 'invoice 17' } }] };
  });

test('wait_for_event: the session waits (no activity) until sendEvent delivers the payment; the model gets the payload', async () => {
  collectScript();
  const s = await startSession(h.client, { agent: 'collector', task: 'Collect invoice 17.' }, h.config);
  const waiting = await waitForState(h.client, s.sessionId, (x) => (x.waiting?.length ?? 0) > 0);
  expect(waiting.status).toBe('running');
  expect(waiting.waiting![0]).toMatchObject({ tool: 'wait_for_event', event: 'payment_received', reason: 'invoice 17' });
  // Refused at the edge: a malformed name never reaches the session.
  await expect(sendEvent(h.client, s.sessionId, 'Payment Received', {})).rejects.toThrow(/sendEvent: name: name must be lowercase/);
  // Refused by the session: an event the agent does not list.
  await sendEvent(h.client, s.sessionId, 'refund_sent', { amount: 1 });
  await sendEvent(h.client, s.sessionId, 'payment_received', { invoice: 17, amount: 99.5 }, { id: 'pay-17' });
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toMatch(/^confirmed: Event 'payment_received' received at .* \(id pay-17\) after .*; payload: \{"invoice":17,"amount":99.5\}$/);
  const state = await waitForState(h.client, s.sessionId, () => true);
  expect(state.rejectedMessages.map((m) => m.reason)).toEqual([expect.stringMatching(/event 'refund_sent' is not one this agent waits for/)]);
  // The wait is a condition in the workflow, not an activity: the only activities are the model's.
  const history = await s.handle.fetchHistory();
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
  const localMarkers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  expect(scheduled).toHaveLength(0);
  expect(localMarkers).toHaveLength(3); // describeAgent and the two model calls
});

test('agentctl event delivers an event; a bad name or payload is a usage error (exit 2) that sends nothing', async () => {
  collectScript();
  const s = await startSession(h.client, { agent: 'collector', task: 'Collect invoice 18.' }, h.config);
  await waitForState(h.client, s.sessionId, (x) => (x.waiting?.length ?? 0) > 0);
  const agentctl = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        path.resolve(__dirname, '..', 'bin', 'agentctl'),
        args,
        { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: h.server.address, TASK_QUEUE: h.env.TASK_QUEUE }, timeout: 90_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const badJson = await agentctl(['event', s.sessionId, 'payment_received', '--payload', '{amount']);
  expect(badJson.code).toBe(2);
  expect(badJson.stderr).toMatch(/--payload is not JSON/);
  const badName = await agentctl(['event', s.sessionId, 'Payment!']);
  expect(badName.code).toBe(2);
  expect(badName.stderr).toMatch(/name must be lowercase/);
  const sent = await agentctl(['event', s.sessionId, 'payment_received', '--payload', '{"invoice":18}', '--id', 'pay-18']);
  expect(sent.code).toBe(0);
  expect(sent.stdout).toMatch(/event 'payment_received' sent to /);
  const result = await s.handle.result();
  expect(result.finalAnswer).toMatch(/\(id pay-18\) after .*; payload: \{"invoice":18\}$/);
});

test('scheduleAgent: a triggered run starts a session with its own id; pause and unpause show in describe and list', async () => {
  h.model.setScript([{ content: 'daily report: all good' }]);
  const scheduleId = `daily-report-${Date.now().toString(36)}`;
  const handle = await scheduleAgent(h.client, { agent: 'calculator', task: 'Write the daily report.', cron: '0 9 * * *', scheduleId, taskQueue: h.config.TASK_QUEUE });
  try {
    await expect(scheduleAgent(h.client, { agent: 'calculator', task: 'x', taskQueue: h.config.TASK_QUEUE } as never)).rejects.toThrow(/give exactly one of cron or every/);
    await triggerAgentSchedule(h.client, scheduleId);
    let sessionId: string | undefined;
    for (let i = 0; i < 100 && !sessionId; i++) {
      sessionId = (await handle.describe()).info.recentActions[0]?.action.workflow.workflowId;
      if (!sessionId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(sessionId).toMatch(new RegExp(`^${scheduleId}-\\d{4}-\\d{2}-\\d{2}T`));
    const result = await h.client.workflow.getHandle(sessionId!).result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'daily report: all good' });

    await pauseAgentSchedule(h.client, scheduleId, 'holiday');
    expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'holiday' });
    await unpauseAgentSchedule(h.client, scheduleId);
    expect((await handle.describe()).state.paused).toBe(false);
    // The list comes from visibility (eventually consistent): wait for it to show this schedule.
    let listed: Awaited<ReturnType<typeof listAgentSchedules>> = [];
    for (let i = 0; i < 100; i++) {
      listed = (await listAgentSchedules(h.client, { agent: 'calculator' })).filter((x) => x.scheduleId === scheduleId);
      if (listed.length) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(listed).toEqual([expect.objectContaining({ scheduleId, agent: 'calculator', task: 'Write the daily report.' })]);
    expect(listed[0].nextRuns[0].getUTCHours()).toBe(9);
  } finally {
    await deleteAgentSchedule(h.client, scheduleId);
  }
  await expect(handle.describe()).rejects.toThrow();
});
