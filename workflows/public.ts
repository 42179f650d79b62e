/**
 * `agent-runtime/workflow`: what is safe inside a workflow bundle and what clients need to address a session
 * (the workflow function and its signals, queries and updates). No Node APIs, no zod.
 */
export { agentSession } from './agentSession';
export * from './messages';
export type * from './types';
