/**
 * USD per million tokens, for budgets and the CostUsd search attribute. Prices change: override per
 * agent (`defineAgent({ pricing })`) or with MODEL_PRICES_JSON='{"model":{"input":..,"output":..}}'.
 */
const DEFAULT_PRICES: Record<string, { input: number; output: number }> = {
  'gpt-4.1': { input: 2.0, output: 8.0 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10.0 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'o4-mini': { input: 1.1, output: 4.4 },
};

export function modelPrice(model: string): { inputPerMTokUsd: number; outputPerMTokUsd: number } {
  const overrides = process.env.MODEL_PRICES_JSON ? (JSON.parse(process.env.MODEL_PRICES_JSON) as typeof DEFAULT_PRICES) : {};
  const price = overrides[model] ?? DEFAULT_PRICES[model];
  return { inputPerMTokUsd: price?.input ?? 0, outputPerMTokUsd: price?.output ?? 0 };
}
