/**
 * Sub-agents on the time-skipping test server (the real session workflow, activities mocked): a parent
 * that should continue as new after every step does so only once its child (waiting a day) has joined,
 * and the child is not cancelled by it; a child that runs out of the share of budget it was given ends,
 * its parent's model is told, and what it used still rolls up.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { CallModelInput } from '../../activities';
import { agentSpec, defineAgent } from '../../runtime/agent';
import { agentSession } from '../../workflows';
import { stateQuery } from '../../workflows/messages';
import type { CheckedToolCall, ModelTurn, RunSpec, SessionResult } from '../../workflows/types';
import { DAY_MS, sessionWorker, timeSkippingEnv } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => env?.teardown());

const pricing = { inputPerMTokUsd: 1, outputPerMTokUsd: 2 };
const agents = [
  defineAgent({ name: 'lead', instructions: 'You lead.', model: 'fake-model', pricing, tools: [], budget: { maxSteps: 6 }, continueAsNewEverySteps: 1, delegates: [{ agent: 'helper', budgetShare: 0.5 }] }),
  defineAgent({ name: 'thrifty-lead', instructions: 'You lead.', model: 'fake-model', pricing, tools: [], budget: { maxSteps: 6 }, delegates: [{ agent: 'helper', budgetShare: 0.5 }] }),
  defineAgent({ name: 'helper', instructions: 'You help.', model: 'fake-model', pricing, tools: [], waits: { maxWaitMs: 5 * DAY_MS } }),
];
const specs = new Map<string, RunSpec>(agents.map((a) => [a.name, { ...agentSpec(a, 'fake-model'), searchAttributes: false, heartbeatTimeoutMs: 20_000, sandboxMode: 'none' }]));

const call = (id: string, name: string, args: Record<string, unknown>): CheckedToolCall => ({ id, name, args, summary: `${name}(…)` });
const toolText = (input: CallModelInput): string => String((input.pending.find((p) => (p.message as { role?: string }).role === 'tool')?.message as { content?: string } | undefined)?.content);

/** Activities whose model answers by agent: `turns[agent](input, i)`, i counting that session's calls. */
function activities(turns: Record<string, (input: CallModelInput, i: number) => Pick<ModelTurn, 'content' | 'toolCalls'>>) {
  const calls = new Map<string, CallModelInput[]>();
  return {
    calls,
    activities: {
      async describeAgent(name: string): Promise<RunSpec> {
        return specs.get(name)!;
      },
      async callModel(input: CallModelInput): Promise<ModelTurn> {
        const mine = calls.get(input.sessionId) ?? [];
        calls.set(input.sessionId, [...mine, input]);
        const t = turns[input.agent](input, mine.length);
        return { seq: input.seq, content: t.content, toolCalls: t.toolCalls, usage: { promptTokens: 100, completionTokens: 10, totalTokens: 110 }, model: 'fake-model' };
      },
    },
  };
}

test('a parent due to continue as new waits until its child (a day-long wait) has joined; the child completes, the next run has its result', async () => {
  const mocked = activities({
    lead: (input, i) => (i === 0 ? { content: null, toolCalls: [call('d1', 'delegate_to_helper', { task: 'wait a day, then say so' })] } : { content: `lead: ${toolText(input)}`, toolCalls: [] }),
    helper: (_input, i) => (i === 0 ? { content: null, toolCalls: [call('w1', 'wait', { seconds: 86400, reason: 'a day' })] } : { content: 'waited a day', toolCalls: [] }),
  });
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const started = await env.currentTimeMs();
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'lead-can', args: [{ agent: 'lead', task: 'go' }] });
    const r: SessionResult = await handle.result();
    const child = env.client.workflow.getHandle('lead-can.d3');
    return { r, state: await handle.query(stateQuery), childResult: (await child.result()) as SessionResult, childStatus: (await child.describe()).status.name, firstRun: handle.firstExecutionRunId, lastRun: (await handle.describe()).runId };
  });
  expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(DAY_MS);
  expect(out.childStatus).toBe('COMPLETED');
  expect(out.childResult.finalAnswer).toBe('waited a day');
  expect(out.r.finalAnswer).toMatch(/^lead: Answer from sub-agent 'helper' \(session lead-can\.d3, 2 steps, 220 tokens\):\nwaited a day$/);
  // It did continue as new, after the child: the second run has the child's result and its usage.
  expect(out.lastRun).not.toBe(out.firstRun);
  expect(out.state.run).toBe(2);
  expect(out.state.delegation?.children[0]).toMatchObject({ sessionId: 'lead-can.d3', status: 'completed', used: { steps: 2 } });
  expect(out.r.usage.totalTokens).toBe(4 * 110);
});

test("a child that runs out of its share of the budget ends; the parent's model is told, and what the child used rolls up", async () => {
  const mocked = activities({
    'thrifty-lead': (input, i) => (i === 0 ? { content: null, toolCalls: [call('d1', 'delegate_to_helper', { task: 'wait forever' })] } : { content: `lead: ${toolText(input)}`, toolCalls: [] }),
    helper: (_input, i) => ({ content: null, toolCalls: [call(`w${i}`, 'wait', { seconds: 60 })] }),
  });
  const { worker, taskQueue } = await sessionWorker(env, mocked.activities);
  const out = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(agentSession, { taskQueue, workflowId: 'thrifty', args: [{ agent: 'thrifty-lead', task: 'go' }] });
    const r: SessionResult = await handle.result();
    return { r, state: await handle.query(stateQuery), child: await env.client.workflow.getHandle('thrifty.d3').query(stateQuery) };
  });
  // 6 steps, 1 used: the child gets floor(0.5 * 5) = 2, runs two model steps, and stops before a third.
  expect(out.child.budget.maxSteps).toBe(2);
  expect(mocked.calls.get('thrifty.d3')).toHaveLength(2);
  expect(out.child.status).toBe('failed');
  expect(out.r.finalAnswer).toMatch(/^lead: Error: sub-agent 'helper' \(session thrifty\.d3\) failed: budget exhausted: maxSteps 2 reached/);
  expect(out.state.delegation?.children[0]).toMatchObject({ status: 'failed', used: { steps: 2, usage: { totalTokens: 220 } } });
  expect(out.r.delegated).toEqual({ steps: 2, usage: { promptTokens: 200, completionTokens: 20, totalTokens: 220 }, costUsd: 2 * (100 * 1 + 10 * 2) / 1e6, children: 1 });
  expect(out.r.usage.totalTokens).toBe(4 * 110);
});
