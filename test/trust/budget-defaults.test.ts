/**
 * Trust boundary, class 7: no agent runs unbounded by accident. Without a `budget` a session pauses as
 * budget_exhausted at DEFAULT_BUDGET (steps and cost); only an explicit 'unlimited' removes a cap.
 */
import { endSession, startSession, waitForState } from '../../client/sessions';
import { agentSpec, DEFAULT_BUDGET, defineAgent } from '../../runtime/agent';
import { createHarness, type Harness } from '../support/harness';
import { unbudgetedLooperAgent, unlimitedAgent } from '../support/agents';

describe('the spec the workflow gets', () => {
  test('no budget → the defaults; a field left out → its default; unlimited only when asked for', () => {
    expect(DEFAULT_BUDGET).toEqual({ maxSteps: 50, maxCostUsd: 1 });
    expect(agentSpec(unbudgetedLooperAgent, 'm', { m: { input: 0, output: 0 } }).budget).toEqual({ maxSteps: 50, maxCostUsd: 1 });
    expect(agentSpec({ ...unbudgetedLooperAgent, budget: { maxTokens: 5000 } }, 'm', { m: { input: 0, output: 0 } }).budget).toEqual({ maxSteps: 50, maxTokens: 5000, maxCostUsd: 1 });
    expect(agentSpec({ ...unbudgetedLooperAgent, budget: { maxSteps: 'unlimited' } }, 'm', { m: { input: 0, output: 0 } }).budget).toEqual({ maxCostUsd: 1 });
    expect(agentSpec(unlimitedAgent, 'm', { m: { input: 0, output: 0 } }).budget).toEqual({});
  });
  test('a nonsensical cap fails when the agent is defined, naming the field', () => {
    expect(() => defineAgent({ ...unbudgetedLooperAgent, budget: { maxSteps: 0 } })).toThrow(/budget.maxSteps must be a positive number or 'unlimited'/);
    expect(() => defineAgent({ ...unbudgetedLooperAgent, budget: { maxCostUsd: Number.NaN } })).toThrow(/budget.maxCostUsd/);
  });
});

describe('sessions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterAll(async () => h?.close());

  /** A model stuck in a tool-call loop: it never gives a final answer. */
  const loopForever = (): void =>
    h.model.setScript((req) => ({
      toolCalls: [{ name: 'add', arguments: { a: req.messages.filter((m) => m.role === 'tool').length, b: 1 } }],
      usage: { prompt_tokens: 100, completion_tokens: 10 },
    }));

  test('an agent without a budget pauses at the default step cap, like any budget', async () => {
    loopForever();
    const s = await startSession(h.client, { agent: 'unbudgeted-looper', task: 'loop' }, h.config);
    const paused = await waitForState(h.client, s.sessionId, (x) => x.status === 'budget_exhausted', { timeoutMs: 110_000 });
    expect(paused).toMatchObject({ steps: 50, budgetExhausted: 'maxSteps 50 reached', budget: { maxSteps: 50, maxCostUsd: 1 } });
    await endSession(h.client, s.sessionId, { reason: 'test done' });
    await s.handle.result();
  });

  test('an agent without a budget pauses at the default cost cap when its model has a price', async () => {
    loopForever();
    const s = await startSession(h.client, { agent: 'unbudgeted-priced', task: 'loop' }, h.config);
    const paused = await waitForState(h.client, s.sessionId, (x) => x.status === 'budget_exhausted', { timeoutMs: 60_000 });
    expect(paused.budgetExhausted).toBe('maxCostUsd 1 reached ($1.0800 spent)');
    expect(paused.steps).toBe(9);
    await endSession(h.client, s.sessionId, { reason: 'test done' });
    await s.handle.result();
  });

  test("budget: 'unlimited' runs past the defaults", async () => {
    h.model.setScript((req) => {
      const n = req.messages.filter((m) => m.role === 'tool').length;
      return n < 55 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `stopped by itself after ${n}` };
    });
    const s = await startSession(h.client, { agent: 'unlimited', task: 'count to 55' }, h.config);
    expect(await s.handle.result()).toMatchObject({ status: 'completed', steps: 56, finalAnswer: 'stopped by itself after 55' });
  });
});
