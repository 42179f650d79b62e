/**
 * Deadlines at their real lengths (days, not the 1.5 s the end-to-end suite used to sleep through): approval
 * deadlines and escalation, a session left waiting on a human, chat idle timeouts. On the time-skipping
 * test server with mocked activities; one environment for the file.
 */
import { createHash } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { approvalSignal, decideApprovalUpdate, sendMessageUpdate, stateQuery } from '../../workflows/messages';
import { agentSession } from '../../workflows';
import { DAY_MS, gatedCall, mockActivities, runSpec, sessionWorker, timeSkippingEnv } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => env?.teardown());

const hashOf = (recipient: string): string => createHash('sha256').update(recipient).digest('hex');

const escalating = runSpec({ approvals: { group: 'support-leads', timeoutMs: 2 * DAY_MS, escalation: [{ group: 'managers', timeoutMs: 3 * DAY_MS }] } });

/** The model asks for one gated call, then answers with what the tool result said. */
const askThenReport = (recipient: string) => (input: { pending: Array<{ message: unknown }> }, i: number) =>
  i === 0 ? { content: null, toolCalls: [gatedCall('call-1', recipient)] } : { content: `done: ${JSON.stringify(input.pending.map((p) => p.message))}` };

test('no decision: the first group has 2 days, the managers 3 more, then the call is denied by default; the model is told', async () => {
  const mocked = mockActivities(escalating, askThenReport('vip-bo'));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const started = await env.currentTimeMs();
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'escalate-1', args: [{ agent: 'notifier', task: 'notify vip-bo' }] });
    const r = await handle.result();
    return { r, state: await handle.query(stateQuery), history: await handle.fetchHistory() };
  });
  const elapsed = (await env.currentTimeMs()) - started;

  expect(result.r.status).toBe('completed');
  expect(mocked.toolRuns).toHaveLength(0);
  const record = result.state.approvals[0];
  expect(record.status).toBe('expired');
  expect(record.approverGroup).toBe('managers');
  expect(record.escalations).toEqual([expect.objectContaining({ from: 'support-leads', to: 'managers' })]);
  // Escalation when the first group's 2 days are over (plus the workflow task's own milliseconds); the
  // managers' deadline 3 days after that.
  const escalatedAfter = Date.parse(record.escalations[0].at) - Date.parse(record.requestedAt);
  expect(escalatedAfter).toBeGreaterThanOrEqual(2 * DAY_MS);
  expect(escalatedAfter).toBeLessThan(2 * DAY_MS + 60_000);
  expect(Date.parse(record.deadline) - Date.parse(record.escalations[0].at)).toBe(3 * DAY_MS);
  expect(elapsed).toBeGreaterThanOrEqual(5 * DAY_MS);
  // The model's next request carries the denial as the tool result (neutral message shape).
  expect(result.r.finalAnswer).toMatch(/not run: no decision by .* after asking support-leads, then managers \(default deny\)/);
  expect(mocked.modelCalls[1].pending[0].message).toMatchObject({ role: 'tool', toolCallId: 'call-1' });
  // Each level is its own durable timer in history, and both fired.
  const events = result.history.events ?? [];
  expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(2);
  expect(events.filter((e) => e.timerFiredEventAttributes)).toHaveLength(2);
});

test('a manager approves on day 3 (after the escalation, before the deadline): the tool runs once, with the approver on record', async () => {
  const mocked = mockActivities(escalating, askThenReport('vip-cy'));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'escalate-2', args: [{ agent: 'notifier', task: 'notify vip-cy' }] });
    await env.sleep(3 * DAY_MS);
    const waiting = await handle.query(stateQuery);
    expect(waiting.status).toBe('awaiting_approval');
    expect(waiting.pendingApprovals[0].approverGroup).toBe('managers');
    const decided = await handle.executeUpdate(decideApprovalUpdate, {
      args: [{ approvalId: waiting.pendingApprovals[0].approvalId, decision: 'approve', approver: 'mia', argsHash: hashOf('vip-cy') }],
    });
    expect(decided).toMatchObject({ status: 'approved', approver: 'mia' });
    return handle.result();
  });
  expect(result.status).toBe('completed');
  expect(mocked.toolRuns).toEqual([expect.objectContaining({ name: 'send_notice', args: { recipient: 'vip-cy' } })]);
});

test('a decision for other arguments (hash mismatch) is refused and the deadline still runs out', async () => {
  const mocked = mockActivities(runSpec({ approvals: { group: 'approvers', timeoutMs: DAY_MS, escalation: [] } }), askThenReport('vip-dee'));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'mismatch-1', args: [{ agent: 'notifier', task: 'notify vip-dee' }] });
    await env.sleep(3600_000);
    const waiting = await handle.query(stateQuery);
    await expect(
      handle.executeUpdate(decideApprovalUpdate, { args: [{ approvalId: waiting.pendingApprovals[0].approvalId, decision: 'approve', approver: 'mallory', argsHash: hashOf('someone-else') }] }),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/argsHash/) } });
    await handle.result();
    return handle.query(stateQuery);
  });
  expect(state.approvals[0].status).toBe('expired');
  expect(mocked.toolRuns).toHaveLength(0);
});

test('nothing moves without a decision: 6 days into a 7-day deadline the call still waits; a signal approves it', async () => {
  const mocked = mockActivities(runSpec(), askThenReport('applicant-a'));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'waits-1', args: [{ agent: 'notifier', task: 'notify applicant-a' }] });
    await env.sleep(6 * DAY_MS);
    const waiting = await handle.query(stateQuery);
    expect(waiting.status).toBe('awaiting_approval');
    expect(waiting.pendingApprovals).toHaveLength(1);
    expect(mocked.toolRuns).toHaveLength(0);
    await handle.signal(approvalSignal, { approvalId: waiting.pendingApprovals[0].approvalId, decision: 'approve', approver: 'alice' });
    return handle.result();
  });
  expect(result.status).toBe('completed');
  expect(mocked.toolRuns).toHaveLength(1);
});

describe('chat idle timeout', () => {
  const weekIdle = runSpec({ tools: [], idleTimeoutMs: 7 * DAY_MS });

  test('a chat session with no message for its idle timeout (7 days) closes by itself', async () => {
    const mocked = mockActivities(weekIdle, [{ content: 'hello there' }]);
    const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
    const started = await env.currentTimeMs();
    const result = await worker.runUntil(
      env.client.workflow.execute(agentSession, { taskQueue, workflowId: 'idle-1', args: [{ agent: 'notifier', mode: 'chat', task: 'hi' }] }),
    );
    expect(result).toMatchObject({ status: 'completed', endReason: `idle for ${7 * DAY_MS} ms`, finalAnswer: 'hello there' });
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(7 * DAY_MS);
  });

  test('a message on day 6 restarts the idle clock: the session is still open on day 10 and closes 7 days after the last message', async () => {
    const mocked = mockActivities(weekIdle, [{ content: 'first answer' }, { content: 'second answer' }]);
    const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'idle-2', args: [{ agent: 'notifier', mode: 'chat', task: 'hi' }] });
      await env.sleep(6 * DAY_MS);
      const reply = await handle.executeUpdate(sendMessageUpdate, { args: [{ text: 'still there?' }] });
      expect(reply).toMatchObject({ status: 'awaiting_input', reply: 'second answer' });
      const lastMessageAt = await env.currentTimeMs();
      await env.sleep(4 * DAY_MS);
      expect((await handle.query(stateQuery)).status).toBe('awaiting_input');
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'completed', endReason: `idle for ${7 * DAY_MS} ms` });
      expect((await env.currentTimeMs()) - lastMessageAt).toBeGreaterThanOrEqual(7 * DAY_MS);
    });
    expect(mocked.modelCalls).toHaveLength(2);
  });
});
