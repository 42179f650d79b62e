/**
 * Durability against real failures: workers are real child processes killed with SIGKILL, and the
 * Temporal dev server is stopped and started again on the same database file. `npm run test:stack`
 * runs the same tests on the production stack (server v1.32.2 restarted on its PostgreSQL).
 */
import { applicationScript } from '../examples/agents/application/script';
import { sessionState, signalApproval, startSession, waitForState } from '../client/sessions';
import { openMemoryStore } from '../memory';
import { openSessionStore } from '../runtime/store';
import { createHarness, type Harness } from './support/harness';
import { activityCalls } from './support/history';
import type { WorkflowHandle } from '@temporalio/client';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterEach(async () => h.killWorkers());
afterAll(async () => h?.close());

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function storedRoles(sessionId: string): Promise<string[]> {
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  try {
    return (await store.list(sessionId)).map((m) => String(m.message.role));
  } finally {
    await store.close();
  }
}

// gather (3 tools in parallel) -> sandboxed analysis (run_python) -> send_decision (approval) -> final answer
const APPLICATION_ROLES = ['system', 'user', 'assistant', 'tool', 'tool', 'tool', 'assistant', 'tool', 'assistant', 'tool', 'assistant'];

test('worker SIGKILLed while the session waits for approval: a new worker finishes it, the effect happens once', async () => {
  h.model.setScript(applicationScript);
  const first = await h.spawnWorker();
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  await first.kill();

  await h.spawnWorker();
  const approver = await h.newClient();
  await signalApproval(approver, s.sessionId, { approvalId: paused.pendingApprovals[0].approvalId, decision: 'approve', approver: 'alice' });
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(h.sent(s.sessionId).length).toBe(1);
  expect(await storedRoles(s.sessionId)).toEqual(APPLICATION_ROLES);
  const state = await sessionState(h.client, s.sessionId);
  expect(state.transcript.map((e) => e.role)).toEqual(APPLICATION_ROLES);
});

test('worker SIGKILLed during a model call: the call is retried on a new worker and usage is counted once', async () => {
  let delayedOnce = false;
  h.model.setScript((req) => {
    const toolDone = req.messages.some((m) => m.role === 'tool');
    if (!toolDone) return { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'ann', text: 'hello' } }], usage: { prompt_tokens: 100, completion_tokens: 10 } };
    if (!delayedOnce) {
      delayedOnce = true;
      return { content: 'too late', delayMs: 15_000, usage: { prompt_tokens: 100, completion_tokens: 10 } };
    }
    return { content: 'Notice sent to ann.', usage: { prompt_tokens: 100, completion_tokens: 10 } };
  });
  const worker = await h.spawnWorker();
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'notifier', task: 'Tell ann hello.' }, h.config);
  await until(() => h.model.requests.length === before + 2, 'the second model call to be in flight');
  await worker.kill();
  await h.spawnWorker();

  const result = await s.handle.result();
  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'Notice sent to ann.', steps: 2 });
  expect(h.model.requests.length - before).toBe(3); // the killed call was made again...
  expect(result.usage).toEqual({ promptTokens: 200, completionTokens: 20, totalTokens: 220 }); // ...but billed once
  expect(h.sent(s.sessionId).length).toBe(1);
  expect(await storedRoles(s.sessionId)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
});

/**
 * Whether the history shows the call started again after the worker died: a regular activity's attempt 2+,
 * or (a local activity) the dead worker's workflow task timing out before the call's outcome was recorded,
 * so the new worker ran it again.
 */
function ranAgainAfterCrash(history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>>, type: string): boolean {
  const events = history.events ?? [];
  if (events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) >= 2)) return true;
  const timedOut = events.findIndex((e) => e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes);
  return timedOut >= 0 && activityCalls(history).some((c) => c.local && c.type === type && c.eventIndex > timedOut);
}

test('worker SIGKILLed while a side-effecting tool runs: retried on a new worker, the effect happens exactly once', async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool')
      ? { content: 'Notice delivered.' }
      : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'bo', text: 'your order shipped', holdMs: 4000 } }] },
  );
  const worker = await h.spawnWorker();
  const s = await startSession(h.client, { agent: 'notifier', task: 'Tell bo the order shipped.' }, h.config);
  // The effect is written, the tool is still running: kill the worker in that window.
  await until(() => h.sent(s.sessionId).length === 1, 'the notice to be written');
  await worker.kill();
  await h.spawnWorker();

  const result = await s.handle.result();
  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'Notice delivered.' });
  expect(h.sent(s.sessionId).length).toBe(1);
  expect(ranAgainAfterCrash(await s.handle.fetchHistory(), 'runTool')).toBe(true); // the tool really ran twice
});

test('worker SIGKILLed in the middle of a memory write: the retried write returns the same record, never a duplicate', async () => {
  const text = `crash-proof memory ${Date.now()}`;
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool')
      ? { content: 'remembered' }
      : { toolCalls: [{ name: 'remember_slowly', arguments: { text, holdMs: 4000 } }] },
  );
  const worker = await h.spawnWorker();
  const s = await startSession(h.client, { agent: 'memory-calculator', task: 'remember this' }, h.config);
  const memory = await openMemoryStore(h.env.MEMORY_URL);
  try {
    const written = async (): Promise<number> => (await memory.list(`session/${s.sessionId}`)).filter((r) => r.text === text).length;
    await until(async () => (await written()) === 1, 'the memory to be written');
    await worker.kill();
    await h.spawnWorker();
    expect((await s.handle.result()).status).toBe('completed');
    expect(await written()).toBe(1);
    expect(ranAgainAfterCrash(await s.handle.fetchHistory(), 'runTool')).toBe(true);
  } finally {
    await memory.close();
  }
});

test('a worker stopped gracefully (SIGTERM) hands its sessions back: the next worker does not wait out the sticky timeout', async () => {
  h.model.setScript(applicationScript);
  // A sticky timeout far longer than the test may wait: only an explicit hand-back lets another worker in.
  const sticky = { STICKY_TIMEOUT_MS: '180000' };
  const first = await h.spawnWorker(sticky);
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval', { timeoutMs: 60_000 });
  await first.stop();
  await h.spawnWorker(sticky);
  await signalApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'alice' });
  const outcome = await Promise.race([s.handle.result(), new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), 60_000))]);
  expect(outcome).toMatchObject({ status: 'completed' });
  expect(h.sent(s.sessionId)).toHaveLength(1);
}, 150_000);

test('server restart while paused for approval: the same database resumes the session and the approval still works', async () => {
  h.model.setScript(applicationScript);
  const worker = await h.spawnWorker();
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1003.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  const serverPid = h.server.pid;

  await h.restartServer();
  expect(h.server.pid).not.toBe(serverPid);
  const approver = await h.newClient(); // a fresh connection to the restarted server
  const state = await waitForState(approver, s.sessionId, (st) => st.status === 'awaiting_approval', { timeoutMs: 60_000 });
  expect(state.pendingApprovals.map((a) => a.approvalId)).toEqual([paused.pendingApprovals[0].approvalId]);
  await signalApproval(approver, s.sessionId, { approvalId: paused.pendingApprovals[0].approvalId, decision: 'approve', approver: 'erin' });
  const result = await approver.workflow.getHandle(s.sessionId).result();
  expect(result.status).toBe('completed');
  expect(h.sent(s.sessionId).length).toBe(1);
  expect(await storedRoles(s.sessionId)).toEqual(APPLICATION_ROLES);
  await worker.stop();
});
