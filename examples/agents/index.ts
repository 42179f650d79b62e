import type { MemoryStore } from 'agent-runtime/memory';
import type { AgentDefinition } from 'agent-runtime';
import { applicationAgent } from './application/agent';
import { RESEARCH_AGENT_NAME, researchAgent } from './research/agent';

/** Names of the agents the default worker registers (the HTTP API refuses others up front). */
export const DEMO_AGENT_NAMES: readonly string[] = [applicationAgent.name, RESEARCH_AGENT_NAME];

/** Agents the default worker registers. */
export function demoAgents(deps: { memory: MemoryStore }): AgentDefinition[] {
  return [applicationAgent, researchAgent(deps.memory)];
}
