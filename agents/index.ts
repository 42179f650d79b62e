import type { MemoryStore } from '../memory';
import type { AgentDefinition } from '../runtime/agent';
import { applicationAgent } from './application/agent';

/** Agents the default worker registers. */
export function demoAgents(_deps: { memory: MemoryStore }): AgentDefinition[] {
  return [applicationAgent];
}
