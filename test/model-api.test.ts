/**
 * The whole chain on the OpenAI Responses API: a real worker (MODEL_API=responses) on a real dev server
 * calls the scripted model server's /v1/responses over HTTP through the `openai` client, and a session
 * with an approval completes. Plus the worker's fail-closed start on an unpriced model.
 */
import { applicationScript } from '../examples/agents/application/script';
import { decideApproval, startSession, waitForState } from '../client/sessions';
import { openSessionStore } from '../runtime/store';
import { createAgentWorker } from '../workers/worker';
import { demoAgents } from '../examples/agents';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness([], { MODEL_API: 'responses' });
  await h.startWorker();
});
afterAll(async () => h?.close());

test('a session with an approval completes over the Responses API; the store holds neutral messages', async () => {
  h.model.setScript(applicationScript);
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
  const paused = await waitForState(h.client, s.sessionId, (st) => st.status === 'awaiting_approval');
  const approval = paused.pendingApprovals[0];
  expect(approval).toMatchObject({ tool: 'send_decision', args: { applicantId: 'A-1001', decision: 'approve' } });
  await decideApproval(h.client, s.sessionId, { approvalId: approval.approvalId, decision: 'approve', approver: 'alice', argsHash: approval.argsHash });
  const result = await s.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toContain('approved by a human and sent');
  expect(result.usage.totalTokens).toBeGreaterThan(0);

  const requests = h.model.requests.slice(before);
  expect(requests.length).toBeGreaterThanOrEqual(2);
  expect(requests.every((r) => r.api === 'responses')).toBe(true);
  // On the wire: Responses input items, tool results as function_call_output, stateless.
  const last = h.model.rawRequests[h.model.rawRequests.length - 1] as { store: boolean; input: Array<{ type: string }> };
  expect(last.store).toBe(false);
  expect(last.input.some((i) => i.type === 'function_call')).toBe(true);
  expect(last.input.some((i) => i.type === 'function_call_output')).toBe(true);

  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const stored = await store.list(s.sessionId);
  await store.close();
  const withCalls = stored.find((m) => m.message.role === 'assistant' && m.message.toolCalls);
  expect(withCalls?.message).toMatchObject({ toolCalls: expect.arrayContaining([expect.objectContaining({ name: 'get_credit_report', arguments: '{"applicantId":"A-1001"}' })]) });
  expect(stored.filter((m) => m.message.role === 'tool').every((m) => typeof m.message.toolCallId === 'string' && !('tool_call_id' in m.message))).toBe(true);
});

test('a worker whose default model has no price does not start, and says how to give one', async () => {
  const config = { ...h.config, AGENT_MODEL: 'mystery-model-7', MODEL_PRICES_JSON: undefined, TASK_QUEUE: `${h.config.TASK_QUEUE}-unpriced` };
  await expect(createAgentWorker(demoAgents, config)).rejects.toThrow(/no price for model 'mystery-model-7' \(agent '[^']+'\).*MODEL_PRICES_JSON='\{"mystery-model-7"/s);
  await expect(createAgentWorker(demoAgents, { ...config, MODEL_PRICES_JSON: '{"mystery-model-7":{"input":1' })).rejects.toThrow(/^MODEL_PRICES_JSON is not valid JSON/);
});
