/**
 * The built-in `wait` and `wait_for_event` tools. They are ordinary tool definitions to the model and
 * to the worker's argument checks (zod schemas bounded by the agent's policy), but the session workflow
 * carries them out itself (workflows/session/waits.ts): a durable timer, or a condition on an external
 * event with a timeout. Their `run` is never called by a session; it refuses, naming why.
 */
import { z } from 'zod';
import { LIMITS } from '../workflows/limits';
import { eventNameProblem } from '../workflows/validate';
import type { WaitPolicy } from '../workflows/types';
import type { ToolDefinition } from './agent';

/** What an agent may wait for. */
export interface AgentWaits {
  /** The longest single wait. Default 7 days; at most LIMITS.maxWaitMs (366 days). */
  maxWaitMs?: number;
  /** External events the model may wait for with `wait_for_event` (e.g. 'payment_received'). None: only `wait`. */
  events?: string[];
}

export const DEFAULT_MAX_WAIT_MS = 7 * 24 * 3600_000;
export const WAIT_TOOL = 'wait';
export const WAIT_FOR_EVENT_TOOL = 'wait_for_event';
/** The model's own note on why it waits (shown in the Web UI): a line, not a document. */
const REASON_CHARS = 200;

/** The policy the workflow enforces; throws naming the agent and the fix when it is out of bounds. */
export function waitPolicy(agent: string, waits: AgentWaits): WaitPolicy {
  const maxWaitMs = waits.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  if (!Number.isInteger(maxWaitMs) || maxWaitMs < 1000 || maxWaitMs > LIMITS.maxWaitMs) {
    throw new Error(`agent '${agent}': waits.maxWaitMs must be an integer from 1000 (1 s) to ${LIMITS.maxWaitMs} (366 days), got ${String(maxWaitMs)}`);
  }
  const events = waits.events ?? [];
  for (const e of events) {
    const problem = eventNameProblem(e);
    if (problem) throw new Error(`agent '${agent}': waits.events entry ${JSON.stringify(e)}: ${problem.replace(/^name/, 'an event name')}`);
  }
  if (new Set(events).size !== events.length) throw new Error(`agent '${agent}': waits.events lists an event twice`);
  if (events.length > 50) throw new Error(`agent '${agent}': waits.events lists ${events.length} events; at most 50`);
  return { maxWaitMs, events: [...events] };
}

const refuse = (name: string) => (): never => {
  throw new Error(`'${name}' is carried out by the session workflow itself (a durable timer or event wait), not as an activity`);
};

/** The tool definitions for a policy: `wait` always, `wait_for_event` when events are listed. */
export function waitTools(policy: WaitPolicy): ToolDefinition[] {
  const maxSeconds = Math.floor(policy.maxWaitMs / 1000);
  const reason = z.string().max(REASON_CHARS).optional().describe('Why you wait (shown to operators).');
  const tools: ToolDefinition[] = [
    {
      name: WAIT_TOOL,
      description: `Pause this session for a while and continue afterwards (e.g. "check again tomorrow": 86400 seconds). At most ${maxSeconds} seconds. Nothing runs meanwhile; the session survives restarts. The result says how long was waited.`,
      input: z.object({ seconds: z.number().int().positive().max(maxSeconds), reason }).strict(),
      builtin: 'wait',
      run: refuse(WAIT_TOOL),
    },
  ];
  if (policy.events.length > 0) {
    tools.push({
      name: WAIT_FOR_EVENT_TOOL,
      description: `Wait until an external event arrives (one of: ${policy.events.join(', ')}), at most timeoutSeconds (up to ${maxSeconds}). The result is the event's payload, or that it timed out. An event that arrived before the call is taken at once.`,
      input: z.object({ event: z.enum(policy.events as [string, ...string[]]), timeoutSeconds: z.number().int().positive().max(maxSeconds), reason }).strict(),
      builtin: 'wait_for_event',
      run: refuse(WAIT_FOR_EVENT_TOOL),
    });
  }
  return tools;
}
