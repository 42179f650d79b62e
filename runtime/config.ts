/** Worker and client configuration from the environment, validated once at start-up. */
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_STORE_URL } from './store';
import { temporalProfile } from './connection';

/** The demo's own queue: a library user's worker never shares it by accident (they name their own). */
export const DEMO_TASK_QUEUE = 'agent-runtime-demo';

const Env = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /**
   * The application's task queue. No default: a worker or client of another application must never land on
   * someone else's queue (sessions there fail with "unknown agent"). The demo scripts use DEMO_TASK_QUEUE.
   */
  TASK_QUEUE: z.string().min(1).max(200).optional(),
  OPENAI_BASE_URL: z.string().url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  AGENT_MODEL: z.string().default('gpt-4.1-mini'),
  /** The model's wire protocol: OpenAI Chat Completions (any compatible endpoint) or the OpenAI Responses API. */
  MODEL_API: z.enum(['chat-completions', 'responses']).default('chat-completions'),
  /** Prices for models the built-in table does not know, '{"model":{"input":USD/1M,"output":USD/1M}}'; an unpriced model stops the worker at start. */
  MODEL_PRICES_JSON: z.string().optional(),
  AGENT_STORE_URL: z.string().default(() => DEFAULT_STORE_URL),
  /** When set, memory search is hybrid (lexical + vectors from this OpenAI-compatible embeddings model). */
  EMBEDDING_MODEL: z.string().optional(),
  /**
   * OpenAI-compatible endpoint for EMBEDDING_MODEL when it is not OPENAI_BASE_URL, e.g. the local server
   * from `npm run embeddings` (http://127.0.0.1:8766/v1). `npm start` starts that server itself when
   * EMBEDDING_MODEL=all-MiniLM-L6-v2 and this is unset.
   */
  EMBEDDING_BASE_URL: z.string().url().optional(),
  /** Long-term memory: a SQLite file path or a postgres:// URL. */
  /** Defaults are under the caller's working directory, never inside the installed package. */
  MEMORY_URL: z.string().default(() => path.resolve('.data', 'memory.sqlite')),
  WORKSPACE_ROOT: z.string().default(() => path.resolve('.data', 'workspaces')),
  /**
   * Snapshots of a session's workspace after its tool calls (under WORKSPACE_ROOT/.snapshots), so a fork
   * gets the workspace as it was at its fork point. 'off': a fork copies the parent's workspace as it is.
   */
  WORKSPACE_SNAPSHOTS: z.enum(['on', 'off']).default('on'),
  /** Per session: distinct workspace trees kept (default 100), bytes of content kept (default 2 GiB), entries a snapshotted workspace may have (default 20,000). */
  WORKSPACE_SNAPSHOT_MAX_COUNT: z.coerce.number().int().positive().optional(),
  WORKSPACE_SNAPSHOT_MAX_BYTES: z.coerce.number().int().positive().optional(),
  WORKSPACE_SNAPSHOT_MAX_FILES: z.coerce.number().int().positive().optional(),
  /** Prebuilt workflow bundle (tests and fast restarts); bundled from source when absent. */
  WORKFLOW_BUNDLE: z.string().optional(),
  /**
   * How long a workflow task waits for the worker that cached the session before any worker may take it.
   * It bounds how long sessions of a crashed worker wait (Temporal's default is 10 s); a live but busy
   * worker only loses the cached copy, and the next worker replays the (small) history.
   */
  STICKY_TIMEOUT_MS: z.coerce.number().int().positive().default(1_000),
  /**
   * Sessions kept in the worker's cache. Parked sessions beyond it are evicted and replayed from history
   * when they wake (an approval, a message), which keeps a worker with thousands of parked sessions small.
   */
  WORKER_CACHED_SESSIONS: z.coerce.number().int().positive().default(250),
  /**
   * Where workflow activations run (workers/workflow-executor.ts): 'inline' (default) on the worker's main
   * thread without a watchdog thread per call, or 'threaded', the SDK's default (worker thread, 5 s deadlock
   * detection). 'inline' halves a step's worker CPU; choose 'threaded' for a worker that also runs
   * workflows you do not control.
   */
  WORKFLOW_EXECUTOR: z.enum(['inline', 'threaded']).default('inline'),
  /** 'inline' only: keep the SDK's per-promise stack capture for the Web UI's "Stack Trace" tab (costs CPU on every step). */
  WORKFLOW_STACK_TRACES: z
    .enum(['0', '1', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  /**
   * Sessions a worker advances at once (workflow task slots, and local model/tool calls in flight). A
   * session holds its slot while its local calls run, so this, not CPU, caps concurrent model calls per
   * worker; capped at WORKER_CACHED_SESSIONS.
   */
  WORKER_ACTIVE_SESSIONS: z.coerce.number().int().positive().default(200),
  /** Heartbeat timeout of model/tool activities: bounds how long work on a crashed worker waits to be retried. */
  HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().positive().default(20_000),
  WEB_UI_URL: z.string().default('http://localhost:8233'),
});
export type RuntimeConfig = z.infer<typeof Env>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  // Address and namespace default to the envconfig profile (TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE); the
  // variables themselves still win. TLS and API key are read from the same profile when connecting.
  const profile = temporalProfile(env);
  const fromProfile = {
    ...(profile.connectionOptions.address ? { TEMPORAL_ADDRESS: profile.connectionOptions.address } : {}),
    ...(profile.namespace ? { TEMPORAL_NAMESPACE: profile.namespace } : {}),
  };
  const parsed = Env.safeParse({ ...fromProfile, ...env });
  if (!parsed.success) {
    throw new Error(`invalid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** The demo scripts' configuration: the environment, with the demo's own task queue unless TASK_QUEUE is set. */
export function loadDemoConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig & { TASK_QUEUE: string } {
  const config = loadConfig(env);
  return { ...config, TASK_QUEUE: config.TASK_QUEUE ?? DEMO_TASK_QUEUE };
}

/** The task queue from a configuration, or an error saying how to name one. */
export function requireTaskQueue(config: Pick<RuntimeConfig, 'TASK_QUEUE'>, who: string): string {
  if (config.TASK_QUEUE) return config.TASK_QUEUE;
  throw new Error(
    `${who}: no task queue. Set TASK_QUEUE (or pass TASK_QUEUE in the config) to your application's own queue; ` +
      `the worker running your agents must poll the same one (the demo uses '${DEMO_TASK_QUEUE}').`,
  );
}

export function webUiLink(config: Pick<RuntimeConfig, 'WEB_UI_URL' | 'TEMPORAL_NAMESPACE'>, workflowId: string): string {
  return `${config.WEB_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${encodeURIComponent(workflowId)}`;
}
