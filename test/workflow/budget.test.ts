/**
 * Budget math inside the real session workflow, with mocked activities: steps, tokens and cost add up
 * from completed model calls only; an exhausted budget pauses (not fails) until a top-up or an end.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { endSignal, stateQuery, topUpBudgetUpdate } from '../../workflows/messages';
import { agentSession } from '../../workflows';
import type { SessionState } from '../../workflows/types';
import { mockActivities, noticeTool, runSpec, sessionWorker, timeSkippingEnv } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => env?.teardown());

// Each mocked model call uses 100 prompt + 10 completion tokens; at $1/$2 per million that is $0.00012.
const COST_PER_CALL = (100 * 1 + 10 * 2) / 1_000_000;
const ungated = { ...noticeTool, name: 'note', approval: 'never' as const };
const looping = (i: number) => ({ content: null, toolCalls: [{ id: `c${i}`, name: 'note', args: { recipient: `r${i}` }, summary: 'note' }] });

async function until(handle: { query: (q: typeof stateQuery) => Promise<SessionState> }, pred: (s: SessionState) => boolean): Promise<SessionState> {
  for (;;) {
    const s = await handle.query(stateQuery);
    if (pred(s)) return s;
    await env.sleep(1000);
  }
}

test('maxSteps pauses the session as budget_exhausted with exact usage; a top-up lets exactly that many more steps run; end closes it', async () => {
  const mocked = mockActivities(runSpec({ tools: [ungated], budget: { maxSteps: 2 } }), (_input, i) => looping(i));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'budget-1', args: [{ agent: 'notifier', task: 'loop' }] });
    const paused = await until(handle, (s) => s.status === 'budget_exhausted');
    expect(paused).toMatchObject({ steps: 2, budgetExhausted: 'maxSteps 2 reached', usage: { promptTokens: 200, completionTokens: 20, totalTokens: 220 } });
    expect(paused.costUsd).toBeCloseTo(2 * COST_PER_CALL, 12);
    expect(mocked.toolRuns).toHaveLength(2);

    const budget = await handle.executeUpdate(topUpBudgetUpdate, { args: [{ approver: 'ops', addSteps: 1 }] });
    expect(budget).toEqual({ maxSteps: 3 });
    const again = await until(handle, (s) => s.status === 'budget_exhausted' && s.steps === 3);
    expect(again.topUps).toEqual([expect.objectContaining({ approver: 'ops', add: { maxSteps: 1 } })]);
    expect(again.costUsd).toBeCloseTo(3 * COST_PER_CALL, 12);
    await handle.signal(endSignal, { by: 'ops', reason: 'enough' });
    return handle.result();
  });
  expect(result).toMatchObject({ status: 'completed', steps: 3, endReason: 'ended by ops: enough' });
  expect(mocked.modelCalls).toHaveLength(3);
});

test('a cost cap pauses once the priced usage reaches it', async () => {
  const mocked = mockActivities(runSpec({ tools: [ungated], budget: { maxCostUsd: 2.5 * COST_PER_CALL } }), (_input, i) => looping(i));
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'budget-2', args: [{ agent: 'notifier', task: 'loop' }] });
    const paused = await until(handle, (s) => s.status === 'budget_exhausted');
    await handle.signal(endSignal, {});
    await handle.result();
    return paused;
  });
  expect(state.steps).toBe(3);
  expect(state.budgetExhausted).toMatch(/^maxCostUsd .* reached \(\$0\.0004 spent\)$/);
});
