/**
 * What AgentRuntimePlugin bundles: the session workflow next to the application's own workflows.
 * `__agent_runtime_app_workflows__` is not a package: the plugin's webpack hook aliases it to the worker's
 * own `workflowsPath` (or to an empty module when the worker has none), so one bundle holds both.
 */
export { agentSession } from './agentSession';
export * from '__agent_runtime_app_workflows__';
