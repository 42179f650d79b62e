/**
 * USD per million tokens, for budgets and the CostUsd search attribute. A model without a price fails
 * closed: a cost of $0 would mean the cost cap never fires. Prices change: give one per agent
 * (`defineAgent({ pricing })`) or in configuration, MODEL_PRICES_JSON='{"model":{"input":..,"output":..}}'.
 * A free model (local, or the scripted model server) is priced explicitly at 0.
 */
import { z } from 'zod';

export interface ModelPrice {
  inputPerMTokUsd: number;
  outputPerMTokUsd: number;
}

const Price = z.object({ input: z.number().finite().nonnegative(), output: z.number().finite().nonnegative() }).strict();
const PriceTableSchema = z.record(z.string().min(1).max(200), Price);
export type PriceTable = z.infer<typeof PriceTableSchema>;

export const DEFAULT_PRICES: Readonly<PriceTable> = {
  'gpt-4.1': { input: 2.0, output: 8.0 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10.0 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'o4-mini': { input: 1.1, output: 4.4 },
};

export class UnknownModelPriceError extends Error {
  override readonly name = 'UnknownModelPriceError';
  constructor(readonly model: string, readonly agent?: string) {
    super(
      `no price for model '${model}'${agent ? ` (agent '${agent}')` : ''}: without one its cost would count as $0 and the cost cap would never fire. ` +
        `Give it a price: defineAgent({ pricing: { inputPerMTokUsd, outputPerMTokUsd } }), or ` +
        `MODEL_PRICES_JSON='{"${model}":{"input":<USD per 1M input tokens>,"output":<USD per 1M output tokens>}}' (0 and 0 for a free local model). ` +
        `Known without configuration: ${Object.keys(DEFAULT_PRICES).join(', ')}`,
    );
  }
}

/** Parses MODEL_PRICES_JSON (or another source); an invalid value fails naming the setting and what is wrong. */
export function parsePriceTable(json: string | undefined, setting = 'MODEL_PRICES_JSON'): PriceTable {
  if (json === undefined || json.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new Error(`${setting} is not valid JSON (${(err as Error).message}); expected {"<model>":{"input":<USD/1M>,"output":<USD/1M>}}`);
  }
  const parsed = PriceTableSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`${setting} is invalid (${issues}); expected {"<model>":{"input":<USD/1M>,"output":<USD/1M>}}`);
  }
  return parsed.data;
}

/** The model's price from `prices` (configuration), else the built-in table; throws UnknownModelPriceError. */
export function modelPrice(model: string, prices: PriceTable = parsePriceTable(process.env.MODEL_PRICES_JSON), agent?: string): ModelPrice {
  const price = prices[model] ?? DEFAULT_PRICES[model];
  if (!price) throw new UnknownModelPriceError(model, agent);
  return { inputPerMTokUsd: price.input, outputPerMTokUsd: price.output };
}
