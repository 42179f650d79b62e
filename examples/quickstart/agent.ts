import { z } from 'zod';
import { defineAgent, defineTool } from 'agent-runtime';

/** The application's own task queue: its worker polls it, its clients start sessions on it. */
export const TASK_QUEUE = 'support-app';

const refund = defineTool({
  name: 'issue_refund',
  description: 'Refund an order. Irreversible.',
  input: z.object({ orderId: z.string(), amountEur: z.number().positive() }),
  approval: (args) => (args.amountEur > 100 ? 'refunds over 100 EUR need approval' : false),
  async run({ orderId, amountEur }, ctx) {
    // ctx.idempotencyKey is stable across retries and crashes: pass it to the payment API.
    return { refunded: orderId, amountEur, idempotencyKey: ctx.idempotencyKey };
  },
});

export const supportAgent = defineAgent({
  name: 'support',
  instructions: 'You help customers with orders. Refund when asked.',
  tools: [refund],
  budget: { maxSteps: 10, maxCostUsd: 0.5 },
});
