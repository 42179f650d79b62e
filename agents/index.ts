import type { MemoryStore } from '../memory';
import type { AgentDefinition } from '../runtime/agent';
import { applicationAgent } from './application/agent';
import { researchAgent } from './research/agent';

/** Agents the default worker registers. */
export function demoAgents(deps: { memory: MemoryStore }): AgentDefinition[] {
  return [applicationAgent, researchAgent(deps.memory)];
}
