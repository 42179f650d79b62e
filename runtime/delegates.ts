/**
 * Sub-agents as tools: an agent lists the agents it may delegate to (`defineAgent({ delegates })`) and its
 * model gets one `delegate_to_<agent>` tool per entry, with arguments `{task}`. The session workflow
 * carries the call out itself (workflows/session/delegate-call.ts: a child session, a share of the budget,
 * approvals shown by the parent, cancellation cascading); the tool's `run` is never called by a session.
 * Checked here with zod (the definition) and at worker start (every delegate must be registered).
 */
import { z } from 'zod';
import { LIMITS } from '../workflows/limits';
import { DEFAULT_BUDGET_SHARE } from '../workflows/session/delegation';
import type { DelegateSpec } from '../workflows/types';
import type { AgentDefinition, ToolDefinition } from './agent';

/** One agent this agent may delegate to: a name, or the name with a budget share and a description for the model. */
export type AgentDelegate =
  | string
  | {
      /** A registered agent (on the same worker / task queue). */
      agent: string;
      /** The share of this session's remaining budget the child gets when it starts (0 < share <= 1). Default 0.5. */
      budgetShare?: number;
      /** What the model is told the agent is good for (part of the tool's description). */
      description?: string;
    };

export const DELEGATE_TOOL_PREFIX = 'delegate_to_';
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const DelegateEntry = z.union([
  z.string().min(1, 'an agent name must not be empty'),
  z
    .object({
      agent: z.string().min(1, 'an agent name must not be empty'),
      budgetShare: z.number().gt(0, 'budgetShare must be more than 0').max(1, 'budgetShare must be at most 1').optional(),
      description: z.string().min(1).max(1000).optional(),
    })
    .strict(),
]);
export const Delegates = z.array(DelegateEntry).max(LIMITS.delegatesPerAgent, `at most ${LIMITS.delegatesPerAgent} delegates per agent`);

/** The task a sub-agent gets: the same rule as the workflow's `checkDelegateArgs` (test/unit/delegation.test.ts holds them together). */
export const DelegateArgs = z
  .object({
    task: z
      .string({ error: 'task must be a string' })
      .max(LIMITS.delegateTaskChars, `task is longer than ${LIMITS.delegateTaskChars} characters`)
      .regex(/\S/, 'task is empty')
      .describe('The task for the sub-agent, with everything it needs to know (it does not see this conversation).'),
  })
  .strict();

/** `delegate_to_<agent>`, with characters a tool name may not have replaced by `_`. */
export function delegateToolName(agent: string): string {
  return `${DELEGATE_TOOL_PREFIX}${agent.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
}

/** The delegation policy the workflow enforces; throws naming the agent and the problem. */
export function delegatePolicies(agentName: string, delegates: readonly AgentDelegate[]): Array<DelegateSpec & { description?: string }> {
  const parsed = Delegates.safeParse(delegates);
  if (!parsed.success) {
    throw new Error(`agent '${agentName}': delegates: ${parsed.error.issues.map((i) => `${i.path.length ? `[${i.path.join('.')}] ` : ''}${i.message}`).join('; ')}`);
  }
  const out: Array<DelegateSpec & { description?: string }> = [];
  for (const entry of parsed.data) {
    const d = typeof entry === 'string' ? { agent: entry } : entry;
    const tool = delegateToolName(d.agent);
    if (!TOOL_NAME.test(tool)) throw new Error(`agent '${agentName}': delegates: agent name '${d.agent}' is too long for a tool name (${tool.length} > 64 characters)`);
    const same = out.find((o) => o.tool === tool);
    if (same) throw new Error(`agent '${agentName}': delegates lists '${d.agent}'${same.agent === d.agent ? ' twice' : ` and '${same.agent}', which share the tool name '${tool}'`}`);
    out.push({ agent: d.agent, tool, budgetShare: d.budgetShare ?? DEFAULT_BUDGET_SHARE, ...(d.description ? { description: d.description } : {}) });
  }
  return out;
}

const refuse = (name: string) => (): never => {
  throw new Error(`'${name}' is carried out by the session workflow itself (a child session), not as an activity`);
};

/** The tool definitions the model sees, one per delegate. */
export function delegateTools(policies: ReadonlyArray<DelegateSpec & { description?: string }>): ToolDefinition[] {
  return policies.map((p) => ({
    name: p.tool,
    description:
      `Delegate a task to the '${p.agent}' agent${p.description ? ` (${p.description})` : ''}: it works on it in a session of its own, with ` +
      `${Math.round(p.budgetShare * 100)}% of your remaining budget, and its final answer comes back as this tool's result. ` +
      'It does not see this conversation: put everything it needs in the task. Several delegations in one turn run at the same time.',
    input: DelegateArgs,
    builtin: 'delegate' as const,
    run: refuse(p.tool),
  }));
}

/**
 * At worker start: every agent an agent delegates to must be registered on the worker (children run on
 * the same task queue), and the delegate tools must be there (the agent was made with defineAgent).
 * Cycles (a delegates to b, b to a; or an agent to itself) are allowed: LIMITS.delegationDepth bounds them.
 */
export function checkDelegates(agents: readonly AgentDefinition[]): void {
  const names = new Set(agents.map((a) => a.name));
  for (const agent of agents) {
    if (!agent.delegates?.length) continue;
    for (const p of delegatePolicies(agent.name, agent.delegates)) {
      if (!names.has(p.agent)) {
        throw new Error(`agent '${agent.name}' delegates to '${p.agent}', which is not registered on this worker (registered: ${[...names].join(', ')}); register it or remove it from delegates`);
      }
      if (!agent.tools.some((t) => t.name === p.tool && t.builtin === 'delegate')) {
        throw new Error(`agent '${agent.name}' lists delegates but has no '${p.tool}' tool: define it with defineAgent(), which adds the delegate tools`);
      }
    }
  }
}
