/**
 * The bench agent for `npm run bench:peers`, on this runtime: the same two tools the peers implement
 * (examples/bench/peers/protocol.ts). It lives outside examples/bench/peers/ because module resolution from there would
 * pick the peers' own copies of zod and openai instead of the project's.
 */
import { appendFileSync } from 'node:fs';
import { z } from 'zod';
import { defineAgent, defineTool } from 'agent-runtime';
import { BENCH_INSTRUCTIONS, epochMs, type ToolLogLine } from './peers/protocol';

export const benchPeerAgent = defineAgent({
  name: 'bench-peer',
  instructions: BENCH_INSTRUCTIONS,
  // The peers have no step cap; the runtime's safe default (50 steps, $1) would pause long step rounds.
  budget: 'unlimited',
  tools: [
    defineTool({
      name: 'noop',
      description: 'Does nothing (one agent step).',
      input: z.object({ i: z.number() }),
      run: ({ i }) => ({ ok: true, i }),
    }),
    defineTool({
      name: 'approved_lookup',
      description: 'A read-only lookup that needs a human approval first (runs as a local activity).',
      input: z.object({ item: z.string() }),
      effects: 'read',
      approval: 'always',
      run: (_args, ctx) => {
        const line: ToolLogLine = { sessionId: ctx.sessionId, tool: 'approved_lookup', t: epochMs(), pid: process.pid };
        appendFileSync(process.env.BENCH_TOOL_LOG!, JSON.stringify(line) + '\n');
        return { found: true };
      },
    }),
    defineTool({
      name: 'approved_action',
      description: 'A write-effect action that needs a human approval first.',
      input: z.object({ item: z.string() }),
      effects: 'write',
      approval: 'always',
      run: (_args, ctx) => {
        // Tool-side timestamp: "approved tool started" without relying on history event types that may change.
        const line: ToolLogLine = { sessionId: ctx.sessionId, tool: 'approved_action', t: epochMs(), pid: process.pid };
        appendFileSync(process.env.BENCH_TOOL_LOG!, JSON.stringify(line) + '\n');
        return { done: true };
      },
    }),
  ],
});
