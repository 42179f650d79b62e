/** Builds a worker that runs agent sessions for a set of agents. */
import { existsSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { AgentRegistry, type AgentDefinition } from '../runtime/agent';
import { loadConfig, type RuntimeConfig } from '../runtime/config';
import { openAIClient, openAIProvider } from '../runtime/model';
import { parsePriceTable } from '../runtime/pricing';
import { openSessionStore, type SessionStore } from '../runtime/store';
import { openAIEmbed, openMemoryStore, type MemoryStore } from '../memory';
import { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';
import { releaseWorkspaceMounts, resolveSecrets, sandboxMode } from '../sandbox';
import { workflowWorkerClass } from './workflow-executor';
import { connectTemporal, dirProblem, modelEndpointProblem, openDataStore } from '../runtime/preflight';

/** Agents, or a factory for agents that need the worker's resources (e.g. memory tools). */
export type AgentSource = AgentDefinition[] | ((deps: { memory: MemoryStore }) => AgentDefinition[]);

export interface AgentWorker {
  worker: Worker;
  store: SessionStore;
  memory: MemoryStore;
  /** Problems found at start that did not stop the worker (model endpoint, workspace root), each with its fix. */
  warnings: string[];
  /** Stops polling, lets running activities finish (grace period), closes connections. */
  shutdown(): Promise<void>;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
}

export async function createAgentWorker(agentSource: AgentSource, config: RuntimeConfig = loadConfig()): Promise<AgentWorker> {
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
    connection = await connectTemporal(config.TEMPORAL_ADDRESS, () => NativeConnection.connect({ address: config.TEMPORAL_ADDRESS }));
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
  const agents = typeof agentSource === 'function' ? agentSource({ memory }) : agentSource;
  let activities: ReturnType<typeof createActivities>;
  try {
    activities = createActivities({
    registry: new AgentRegistry(agents),
    store,
    memory,
    model: openAIProvider(config.MODEL_API, openai),
    prices,
    defaultModel: config.AGENT_MODEL,
    searchAttributes: missing.length === 0,
    workspaceRoot: config.WORKSPACE_ROOT,
    heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
    resolveSecrets: (names) => resolveSecrets(names),
    sandboxMode: sandboxMode(),
    });
  } catch (err) {
    // An unpriced model: nothing stays open behind the error.
    await Promise.all([store.close(), memory.close(), connection.close()].map((p) => p.catch(() => undefined)));
    throw err;
  }
  const bundle = config.WORKFLOW_BUNDLE && existsSync(config.WORKFLOW_BUNDLE) ? { codePath: config.WORKFLOW_BUNDLE } : undefined;
  const WorkerClass = workflowWorkerClass(config.WORKFLOW_EXECUTOR, { stackTraces: config.WORKFLOW_STACK_TRACES, warn: (m) => console.warn(`[worker] ${m}`) });
  const worker = await WorkerClass.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TASK_QUEUE,
    ...(bundle ? { workflowBundle: bundle } : { workflowsPath: require.resolve('../workflows') }),
    activities,
    stickyQueueScheduleToStartTimeout: config.STICKY_TIMEOUT_MS,
    maxCachedWorkflows: config.WORKER_CACHED_SESSIONS,
    // A session's workflow task stays open while its local model and tool calls run (seconds for a real
    // model), so task slots, not CPU, bound how many sessions a worker advances at once: the SDK's 40 would
    // queue the 41st session behind a model call. Slots are cheap (the cache bounds memory).
    maxConcurrentWorkflowTaskExecutions: Math.min(config.WORKER_ACTIVE_SESSIONS, config.WORKER_CACHED_SESSIONS),
    maxConcurrentLocalActivityExecutions: config.WORKER_ACTIVE_SESSIONS,
    // Heartbeats reach the server at least every 2 s, so a cancelled session stops its tools within ~2 s.
    maxHeartbeatThrottleInterval: '2 seconds',
    shutdownGraceTime: '10 seconds',
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
