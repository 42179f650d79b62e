import type { AgentDefinition } from '../runtime/agent';
import { applicationAgent } from './application/agent';

/** Agents the default worker registers. */
export function demoAgents(): AgentDefinition[] {
  return [applicationAgent];
}
