/** Resolved at bundle time by AgentRuntimePlugin (see worker-entry.ts); never imported outside the bundle. */
declare module '__agent_runtime_app_workflows__' {}
