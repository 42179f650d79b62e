/**
 * The agent session on a real Temporal dev server, with the scripted model server behind the openai client.
 */
import { applicationScript } from '../examples/agents/application/script';
import { canStartEagerly, decideApproval, sessionState, signalApproval, startSession, waitForState } from '../client/sessions';
import { messageText } from '../runtime/scripted-model';
import { openSessionStore } from '../runtime/store';
import { approvalSignal } from '../workflows/messages';
import { flakyCalls } from './support/agents';
import { activityCalls } from './support/history';
import { createHarness, type Harness } from './support/harness';
import type { AgentWorker } from '../workers/worker';

let h: Harness;
let worker: AgentWorker;

beforeAll(async () => {
  h = await createHarness();
  worker = await h.startWorker();
});
afterAll(async () => h?.close());

function activityTypes(history: Awaited<ReturnType<ReturnType<Harness['client']['workflow']['getHandle']>['fetchHistory']>>): string[] {
  return activityCalls(history).map((c) => c.type);
}

test('happy path: the model call runs its short read-only tool calls itself, and the final answer is returned', async () => {
  h.model.setScript([
    { content: 'Let me compute.', toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }, { name: 'lookup_fact', arguments: { topic: 'otters' } }] },
    { content: 'The sum is 5 and otters are interesting.' },
  ]);
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'calculator', task: 'What is 2+3? And tell me about otters.' }, h.config);
  const result = await s.handle.result();

  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'The sum is 5 and otters are interesting.', steps: 2 });
  expect(result.usage.totalTokens).toBeGreaterThan(0);
  const types = activityTypes(await s.handle.fetchHistory());
  expect(types.filter((t) => t === 'callModel')).toHaveLength(2);
  // add and lookup_fact are short read-only tools: the first model call ran them (one pass through the
  // workflow per step); the regular shape, one activity per tool call, is tested with calculator-activities.
  expect(types.filter((t) => t === 'runTool')).toHaveLength(0);

  // The second model request carried both tool results, produced by the activities, through the openai client.
  const second = h.model.requests[before + 1];
  const toolMessages = second.messages.filter((m) => m.role === 'tool').map(messageText);
  expect(toolMessages).toEqual(['{"sum":5}', '{"topic":"otters","fact":"otters is interesting"}']);
  expect(second.tools?.map((t) => t.function.name)).toEqual(['add', 'lookup_fact']);

  // The transcript is stored once, in order: system, user, assistant, tool, tool, assistant.
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const stored = await store.list(s.sessionId);
  await store.close();
  expect(stored.map((m) => m.message.role)).toEqual(['system', 'user', 'assistant', 'tool', 'tool', 'assistant']);
  const state = await sessionState(h.client, s.sessionId);
  expect(state.transcript.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(state.status).toBe('completed');
});

test("eager start: a session started through the worker's own client gets its first workflow task with the start; one from another connection does not", async () => {
  h.model.setScript([{ content: 'Hello from the eager one.' }, { content: 'Hello from the other one.' }]);
  expect(canStartEagerly(worker.client)).toBe(true);
  expect(canStartEagerly(h.client)).toBe(false);
  const eager = await startSession(worker.client, { agent: 'calculator', task: 'Say hello.' }, h.config);
  expect(eager.eagerlyStarted).toBe(true);
  expect(await eager.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'Hello from the eager one.' });
  const plain = await startSession(h.client, { agent: 'calculator', task: 'Say hello.' }, h.config);
  expect(plain.eagerlyStarted).toBe(false);
  expect(await plain.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'Hello from the other one.' });
});

test('an eagerly run tool that throws is run again by the workflow, as its own activity with its retry policy', async () => {
  h.model.setScript([{ toolCalls: [{ name: 'fetch_once', arguments: { item: 'report' } }] }, { content: 'fetched' }]);
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'flaky', task: 'Fetch the report.' }, h.config);
  expect(await s.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'fetched' });
  const types = activityTypes(await s.handle.fetchHistory());
  expect(types.filter((t) => t === 'runTool')).toHaveLength(1);
  const toolMessages = h.model.requests[before + 1].messages.filter((m) => m.role === 'tool').map(messageText);
  expect(toolMessages).toEqual(['{"item":"report","try":2}']);
  expect([...flakyCalls.values()]).toContain(2);
});

test('approval: the session waits for a human, a signal from a separate connection resumes it', async () => {
  h.model.setScript(applicationScript);
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  expect(paused.pendingApprovals).toHaveLength(1);
  const approval = paused.pendingApprovals[0];
  expect(approval).toMatchObject({ tool: 'send_decision', status: 'pending', args: { applicantId: 'A-1001', decision: 'approve' } });
  expect(approval.argsHash).toMatch(/^[0-9a-f]{64}$/);

  // Nothing moves without a decision (over days: test/workflow/deadlines.test.ts, time-skipping).
  expect(h.sent(s.sessionId).length).toBe(0);

  const other = await h.newClient();
  await signalApproval(other, s.sessionId, { approvalId: approval.approvalId, decision: 'approve', approver: 'alice', comment: 'looks fine' });
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toContain('approved by a human and sent');
  expect(h.sent(s.sessionId).length).toBe(1);
  const state = await sessionState(h.client, s.sessionId);
  expect(state.approvals[0]).toMatchObject({ status: 'approved', approver: 'alice', comment: 'looks fine' });
});

test('rejection: the rejection and its reason go back to the model, nothing is sent', async () => {
  h.model.setScript(applicationScript);
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1002.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  const other = await h.newClient();
  await signalApproval(other, s.sessionId, {
    approvalId: paused.pendingApprovals[0].approvalId,
    decision: 'reject',
    approver: 'bob',
    comment: 'call the applicant first',
  });
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toContain('was not sent');
  expect(h.sent(s.sessionId).length).toBe(0);
  const last = h.model.requests[h.model.requests.length - 1];
  expect(h.model.requests.length - before).toBe(4); // gather, analyse, decide, answer
  expect(messageText(last.messages[last.messages.length - 1])).toBe('The call was not run: rejected by bob: call the applicant first.');
});

test('bad input: malformed or unknown approvals change nothing; a valid one still completes the session', async () => {
  h.model.setScript(applicationScript);
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1003.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  const approvalId = paused.pendingApprovals[0].approvalId;
  const handle = h.client.workflow.getHandle(s.sessionId);

  // Signals bypass the client-side zod check here on purpose: other services may send anything.
  await handle.signal(approvalSignal, { approvalId: 'nope', decision: 'approve', approver: 'mallory' });
  await handle.signal(approvalSignal, { approvalId, decision: 'maybe', approver: 'mallory' } as never);
  await handle.signal(approvalSignal, { approvalId, decision: 'approve' } as never);
  await handle.signal(approvalSignal, 'approve' as never);
  await expect(decideApproval(h.client, s.sessionId, { approvalId: 'unknown', decision: 'approve', approver: 'eve' })).rejects.toThrow(
    /unknown approvalId 'unknown'/,
  );
  await expect(decideApproval(h.client, s.sessionId, { approvalId, decision: 'approve', approver: ' ' })).rejects.toThrow(/approver is required/);

  const after = await waitForState(h.client, s.sessionId, (st) => st.rejectedMessages.length === 4);
  expect(after.status).toBe('awaiting_approval');
  expect(after.pendingApprovals).toHaveLength(1);
  expect(after.rejectedMessages.map((m) => m.reason)).toEqual([
    "unknown approvalId 'nope'",
    expect.stringContaining('decision'),
    expect.stringContaining('approver'),
    expect.stringContaining('malformed approval'),
  ]);
  // Rejected Updates leave no trace in history.
  const history = await handle.fetchHistory();
  expect((history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toHaveLength(0);

  const record = await decideApproval(h.client, s.sessionId, { approvalId, decision: 'approve', approver: 'carol' });
  expect(record).toMatchObject({ status: 'approved', approver: 'carol' });
  // Refused either way: by the validator while the session runs, or because it already completed.
  await expect(decideApproval(h.client, s.sessionId, { approvalId, decision: 'reject', approver: 'dave' })).rejects.toThrow(/already approved|already completed/);
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(h.sent(s.sessionId).length).toBe(1);
});
