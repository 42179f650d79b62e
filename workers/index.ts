/** `agent-runtime/worker`: run agent sessions on your own Temporal worker. */
export { AgentRuntimePlugin, AGENT_WORKFLOWS_PATH } from './plugin';
export type { AgentRuntimePluginOptions, AgentSource, ModelOptions } from './plugin';
export { createAgentWorker } from './worker';
export { workflowWorkerClass } from './workflow-executor';
export type { WorkflowExecutor } from './workflow-executor';
export type { AgentWorker, AgentWorkerOptions } from './worker';
export { checkDeclaredSecrets } from './secrets-check';
export { agentSpanInterceptor, MODEL_SPAN, TOOL_SPAN } from './tracing';
export { openSessionStore, DEFAULT_STORE_URL } from '../runtime/store';
export type { SessionStore, StoredMessage, NewMessage } from '../runtime/store';
export { loadConfig, requireTaskQueue } from '../runtime/config';
export type { RuntimeConfig } from '../runtime/config';
export { nativeConnectionOptions, clientConnectionOptions, temporalProfile } from '../runtime/connection';
export { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';
export { WorkspaceSnapshots, DEFAULT_SNAPSHOT_LIMITS, snapshotsFollow } from '../runtime/workspace-snapshots';
export type { SnapshotLimits } from '../runtime/workspace-snapshots';
export { openSessionWorkspace, removeSessionWorkspace, workspacePath } from '../runtime/workspace';
