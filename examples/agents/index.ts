import type { MemoryStore } from '../../memory';
import type { AgentDefinition } from '../../runtime/agent';
import { applicationAgent } from './application/agent';
import { RESEARCH_AGENT_NAME, researchAgent } from './research/agent';

/** Names of the agents the default worker registers (the HTTP API refuses others up front). */
export const DEMO_AGENT_NAMES: readonly string[] = [applicationAgent.name, RESEARCH_AGENT_NAME];

/** Agents the default worker registers. */
export function demoAgents(deps: { memory: MemoryStore }): AgentDefinition[] {
  return [applicationAgent, researchAgent(deps.memory)];
}
