/** Builds a worker that runs agent sessions for a set of agents. */
import { existsSync } from 'node:fs';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, requireTaskQueue, type RuntimeConfig } from '../runtime/config';
import { openAIClient } from '../runtime/model';
import { parsePriceTable } from '../runtime/pricing';
import { workflowWorkerClass } from './workflow-executor';
import { nativeConnectionOptions } from '../runtime/connection';
import { openSessionStore, type SessionStore } from '../runtime/store';
import { openAIEmbed, openMemoryStore, type MemoryStore } from '../memory';
import { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';
import { releaseWorkspaceMounts } from '../sandbox';
import { AgentRuntimePlugin, type AgentRuntimePluginOptions, type AgentSource } from './plugin';
import { connectTemporal, dirProblem, modelEndpointProblem, openDataStore } from '../runtime/preflight';

export type { AgentSource } from './plugin';

export interface AgentWorker {
  worker: Worker;
  /**
   * A client on the worker's own connection. Sessions started through it (startSession, forkSession, the HTTP
   * API built on it) start eagerly: the first workflow task comes back with the start instead of through
   * matching (client/eager.ts). Closed with the worker.
   */
  client: Client;
  store: SessionStore;
  memory: MemoryStore;
  /** Problems found at start that did not stop the worker (model endpoint, workspace root), each with its fix. */
  warnings: string[];
  /** Stops polling, lets running activities finish (grace period), closes connections. */
  shutdown(): Promise<void>;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
}

export interface AgentWorkerOptions {
  /** OpenTelemetry tracing (see AgentRuntimePlugin). */
  tracing?: AgentRuntimePluginOptions['tracing'];
}

/**
 * The one-call worker: opens the stores and the connection named by the config (TEMPORAL_* and the envconfig
 * profile, so TLS/API keys/Temporal Cloud work by configuration) and runs AgentRuntimePlugin on its own worker.
 */
export async function createAgentWorker(agentSource: AgentSource, config: RuntimeConfig = loadConfig(), opts: AgentWorkerOptions = {}): Promise<AgentWorker> {
  requireTaskQueue(config, 'createAgentWorker');
  // Data stores first: a bad path fails start-up with the path and the setting, and nothing is left open.
  const prices = parsePriceTable(config.MODEL_PRICES_JSON); // a malformed setting fails before anything is opened
  const store = await openDataStore('session store', config.AGENT_STORE_URL, 'AGENT_STORE_URL', () => openSessionStore(config.AGENT_STORE_URL));
  // Temporal retries the activity (with backoff, visible in history); the client does not retry on its own.
  const openai = openAIClient({ baseURL: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY });
  const embeddingModel = config.EMBEDDING_MODEL;
  const memory = await openDataStore('memory store', config.MEMORY_URL, 'MEMORY_URL', () => openMemoryStore(config.MEMORY_URL, {
    // Hybrid search only when an embeddings endpoint is configured: never require a network to run.
    ...(embeddingModel
      ? {
          embed: config.EMBEDDING_BASE_URL
            ? openAIEmbed({ baseURL: config.EMBEDDING_BASE_URL, model: embeddingModel })
            : openAIEmbed({ client: openai, model: embeddingModel }),
        }
      : {}),
  })).catch(async (err: unknown) => {
    await store.close().catch(() => undefined);
    throw err;
  });
  let connection: NativeConnection;
  let missing: string[];
  try {
    connection = await connectTemporal(config.TEMPORAL_ADDRESS, () => NativeConnection.connect(nativeConnectionOptions(config)));
    const registered = await connection.operatorService.listSearchAttributes({ namespace: config.TEMPORAL_NAMESPACE });
    missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(k in (registered.customAttributes ?? {})));
    if (missing.length) {
      console.warn(`[worker] search attributes not registered on the server (${missing.join(', ')}): sessions will not upsert them. ` +
        'Start the server with `npm run temporal` or register them (see README).');
    }
  } catch (err) {
    await store.close().catch(() => undefined);
    await memory.close().catch(() => undefined);
    throw err;
  }
  // What the worker depends on but does not need to start: warn now, not at the first session.
  const warnings = (
    await Promise.all([
      Promise.resolve(dirProblem(config.WORKSPACE_ROOT, 'WORKSPACE_ROOT')).then((p) => p && `workspace root ${p}`),
      modelEndpointProblem(openai.baseURL, config.OPENAI_API_KEY),
    ])
  ).filter((w): w is string => !!w);
  for (const w of warnings) console.warn(`[worker] ${w}`);
  const taskQueue = requireTaskQueue(config, 'createAgentWorker');
  const closeAll = async (): Promise<void> => {
    await store.close().catch(() => undefined);
    await memory.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  };
  let plugin: AgentRuntimePlugin;
  try {
    plugin = new AgentRuntimePlugin({
      agents: agentSource,
      store,
      memory,
      model: { client: openai, api: config.MODEL_API, defaultModel: config.AGENT_MODEL, prices },
      sandbox: {
        workspaceRoot: config.WORKSPACE_ROOT,
        snapshots:
          config.WORKSPACE_SNAPSHOTS === 'off'
            ? false
            : { maxSnapshots: config.WORKSPACE_SNAPSHOT_MAX_COUNT, maxBytes: config.WORKSPACE_SNAPSHOT_MAX_BYTES, maxFiles: config.WORKSPACE_SNAPSHOT_MAX_FILES },
      },
      searchAttributes: missing.length === 0,
      heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
      ...(opts.tracing ? { tracing: opts.tracing } : {}),
    });
  } catch (err) {
    await closeAll(); // e.g. a declared secret that does not resolve, or an unpriced model: nothing is left open
    throw err;
  }
  const bundle = config.WORKFLOW_BUNDLE && existsSync(config.WORKFLOW_BUNDLE) ? { codePath: config.WORKFLOW_BUNDLE } : undefined;
  const WorkerClass = workflowWorkerClass(config.WORKFLOW_EXECUTOR, { stackTraces: config.WORKFLOW_STACK_TRACES, warn: (m) => console.warn(`[worker] ${m}`) });
  const worker = await WorkerClass.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    // Without a prebuilt bundle, the plugin bundles the session workflow (from this package) itself.
    ...(bundle ? { workflowBundle: bundle } : {}),
    plugins: [plugin],
    stickyQueueScheduleToStartTimeout: config.STICKY_TIMEOUT_MS,
    maxCachedWorkflows: config.WORKER_CACHED_SESSIONS,
    // A session's workflow task stays open while its local model and tool calls run (seconds for a real
    // model), so task slots, not CPU, bound how many sessions a worker advances at once: the SDK's 40 would
    // queue the 41st session behind a model call. Slots are cheap (the cache bounds memory).
    maxConcurrentWorkflowTaskExecutions: Math.min(config.WORKER_ACTIVE_SESSIONS, config.WORKER_CACHED_SESSIONS),
    maxConcurrentLocalActivityExecutions: config.WORKER_ACTIVE_SESSIONS,
    shutdownGraceTime: '10 seconds',
  }).catch(async (err: unknown) => {
    await closeAll();
    throw err;
  });
  const done = worker.run().finally(async () => {
    // Workspaces are loop-mounted filesystems (sandbox/quota.ts): leave none of ours mounted behind, so the
    // data folder can be moved or deleted; the next run mounts its image again.
    try {
      releaseWorkspaceMounts(config.WORKSPACE_ROOT, false, { ownOnly: true });
    } catch (err) {
      console.warn(`[worker] could not unmount workspaces under ${config.WORKSPACE_ROOT}: ${String(err)}`);
    }
    await store.close().catch(() => undefined);
    await memory.close().catch(() => undefined);
    await connection.close().catch(() => undefined);
  });
  return {
    worker,
    client: new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }),
    store,
    memory,
    warnings,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
