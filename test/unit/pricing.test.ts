/** Prices fail closed: an unknown model is an error naming the model and how to price it, never $0. */
import { agentSpec, AgentRegistry, defineAgent } from '../../runtime/agent';
import { DEFAULT_PRICES, modelPrice, parsePriceTable, UnknownModelPriceError } from '../../runtime/pricing';
import { createActivities } from '../../activities';
import { FakeModelProvider } from '../../runtime/model';
import type { SessionStore } from '../../runtime/store';

const agent = defineAgent({ name: 'pricey', instructions: 'x', tools: [] });

test('a known model has its table price; configuration overrides the table', () => {
  expect(modelPrice('gpt-4.1-mini', {})).toEqual({ inputPerMTokUsd: 0.4, outputPerMTokUsd: 1.6 });
  expect(modelPrice('gpt-4.1-mini', { 'gpt-4.1-mini': { input: 0.3, output: 1 } })).toEqual({ inputPerMTokUsd: 0.3, outputPerMTokUsd: 1 });
  expect(modelPrice('my-local-llm', { 'my-local-llm': { input: 0, output: 0 } })).toEqual({ inputPerMTokUsd: 0, outputPerMTokUsd: 0 });
});

test('an unknown model throws, naming the model, the agent and both ways to give a price', () => {
  const err = (() => {
    try {
      modelPrice('gpt-9-ultra', {}, 'pricey');
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  expect(err).toBeInstanceOf(UnknownModelPriceError);
  const message = (err as Error).message;
  expect(message).toContain("no price for model 'gpt-9-ultra' (agent 'pricey')");
  expect(message).toContain('defineAgent({ pricing:');
  expect(message).toContain(`MODEL_PRICES_JSON='{"gpt-9-ultra":{"input":`);
  for (const known of Object.keys(DEFAULT_PRICES)) expect(message).toContain(known);
});

test('MODEL_PRICES_JSON is validated: bad JSON, negative or missing prices fail naming the setting', () => {
  expect(parsePriceTable(undefined)).toEqual({});
  expect(parsePriceTable('  ')).toEqual({});
  expect(parsePriceTable('{"m":{"input":1,"output":2}}')).toEqual({ m: { input: 1, output: 2 } });
  expect(() => parsePriceTable('{m:1}')).toThrow(/^MODEL_PRICES_JSON is not valid JSON/);
  expect(() => parsePriceTable('{"m":{"input":-1,"output":2}}')).toThrow(/MODEL_PRICES_JSON is invalid \(m\.input: /);
  expect(() => parsePriceTable('{"m":{"input":1}}')).toThrow(/MODEL_PRICES_JSON is invalid \(m\.output: /);
  expect(() => parsePriceTable('{"m":{"input":1,"output":2,"cached":1}}')).toThrow(/MODEL_PRICES_JSON is invalid/);
  expect(() => parsePriceTable('[1]')).toThrow(/MODEL_PRICES_JSON is invalid/);
});

test('the agent spec takes the agent price first, then configuration, then the table, else throws', () => {
  expect(agentSpec({ ...agent, pricing: { inputPerMTokUsd: 5, outputPerMTokUsd: 6 } }, 'unknown-model', {}).pricing).toEqual({ inputPerMTokUsd: 5, outputPerMTokUsd: 6 });
  expect(agentSpec(agent, 'cfg-model', { 'cfg-model': { input: 1, output: 2 } }).pricing).toEqual({ inputPerMTokUsd: 1, outputPerMTokUsd: 2 });
  expect(agentSpec(agent, 'gpt-4o', {}).pricing).toEqual({ inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 });
  expect(() => agentSpec(agent, 'unknown-model', {})).toThrow(UnknownModelPriceError);
});

test('a worker does not start with an unpriced agent (createActivities checks every registered agent)', () => {
  const deps = { registry: new AgentRegistry([agent]), store: {} as SessionStore, model: new FakeModelProvider(), searchAttributes: false, workspaceRoot: '/nonexistent' };
  expect(() => createActivities({ ...deps, defaultModel: 'unpriced-model', prices: {} })).toThrow(/no price for model 'unpriced-model' \(agent 'pricey'\)/);
  expect(() => createActivities({ ...deps, defaultModel: 'unpriced-model', prices: { 'unpriced-model': { input: 0, output: 0 } } })).not.toThrow();
});
