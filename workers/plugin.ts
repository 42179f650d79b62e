/**
 * AgentRuntimePlugin: adds agent sessions to a worker the application builds itself
 * (`Worker.create({ connection, taskQueue, workflowsPath, plugins: [new AgentRuntimePlugin({...})] })`),
 * next to its own workflows, activities, interceptors and TLS. Built on the SDK's SimplePlugin, as
 * Temporal's own AI integrations are.
 */
import path from 'node:path';
import { SimplePlugin } from '@temporalio/plugin';
import { OpenTelemetryPlugin, type OpenTelemetryPluginOptions } from '@temporalio/interceptors-opentelemetry';
import type { ClientOptions } from '@temporalio/client';
import type { BundleOptions, ReplayWorkerOptions, Worker, WorkerOptions } from '@temporalio/worker';
import type OpenAI from 'openai';
import { createActivities, type ActivityDeps } from '../activities';
import { openAIClient, openAIProvider, type ModelApi, type ModelProvider } from '../runtime/model';
import type { PriceTable } from '../runtime/pricing';
import { AgentRegistry, type AgentDefinition } from '../runtime/agent';
import type { SessionStore } from '../runtime/store';
import { WorkspaceSnapshots, type SnapshotLimits } from '../runtime/workspace-snapshots';
import { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';
import type { MemoryStore } from '../memory';
import { resolveSecrets as resolveSecretsFromEnv, sandboxMode } from '../sandbox';
import { checkDeclaredSecrets } from './secrets-check';
import { agentSpanInterceptor, eagerToolTracer } from './tracing';

/** Agents, or a factory for agents that need the worker's resources (e.g. memory tools). */
export type AgentSource = AgentDefinition[] | ((deps: { memory: MemoryStore }) => AgentDefinition[]);

/**
 * The model: a ModelProvider of your own, an OpenAI client of your own, or the settings of any
 * OpenAI-compatible endpoint; `api` picks Chat Completions (default) or the Responses API.
 */
export type ModelOptions = {
  defaultModel?: string;
  /** Prices (USD per 1M tokens) of models the built-in table does not know; an unpriced model refuses to start. */
  prices?: PriceTable;
} & (
  | { provider: ModelProvider }
  | { client: OpenAI; api?: ModelApi }
  | { baseURL?: string; apiKey?: string; api?: ModelApi }
);

export interface AgentRuntimePluginOptions {
  agents: AgentSource;
  /** Where transcripts live (openSessionStore('sqlite:...') or a postgres:// URL). */
  store: SessionStore;
  /** Long-term memory; without it, agents using automatic memory fail their memory steps with a clear error. */
  memory?: MemoryStore;
  model: ModelOptions;
  sandbox?: {
    /** 'bubblewrap' (default: from SANDBOX, checked at start) or 'none' (unsandboxed, flagged on every session). */
    mode?: string;
    /** One folder per session; default `.data/workspaces` under the working directory. */
    workspaceRoot?: string;
    /**
     * Workspace snapshots after tool calls, so forks restore the workspace as it was at their fork point:
     * limits per session (default DEFAULT_SNAPSHOT_LIMITS), or false to turn them off.
     */
    snapshots?: Partial<SnapshotLimits> | false;
  };
  /** Resolves the secrets tools declare; default env AGENT_SECRET_<NAME>, then AGENT_SECRETS_FILE / .data/secrets.json. */
  secrets?: (names: string[]) => Record<string, string>;
  /** OpenTelemetry: Temporal's interceptors plus a span per model call and per tool call. */
  tracing?: OpenTelemetryPluginOptions;
  /** Whether the server has the runtime's search attributes; default: asked from the server when the worker starts. */
  searchAttributes?: boolean;
  /** Heartbeat timeout of model/tool activities (how fast work of a dead worker moves elsewhere). Default 20 s. */
  heartbeatTimeoutMs?: number;
}

/** Stands for the application's workflows inside the plugin's bundle entry (workflows/worker-entry.ts). */
const APP_WORKFLOWS_ALIAS = '__agent_runtime_app_workflows__';
/** The bundle entry, resolved from this file so it works from source and from an installed dist/. */
export const AGENT_WORKFLOWS_PATH = require.resolve('../workflows/worker-entry');

export class AgentRuntimePlugin extends SimplePlugin {
  readonly agents: readonly AgentDefinition[];
  private readonly deps: ActivityDeps;
  private readonly otel?: OpenTelemetryPlugin;

  constructor(options: AgentRuntimePluginOptions) {
    if (!options.store) throw new Error("AgentRuntimePlugin: 'store' is required (e.g. openSessionStore('sqlite:.data/sessions.sqlite'))");
    if (!options.model) throw new Error("AgentRuntimePlugin: 'model' is required ({ baseURL, apiKey, defaultModel } or { client })");
    const memory = options.memory;
    const agents = typeof options.agents === 'function'
      ? options.agents({ memory: memory ?? missingMemory() })
      : options.agents;
    if (!Array.isArray(agents) || agents.length === 0) throw new Error("AgentRuntimePlugin: 'agents' must name at least one agent (defineAgent)");
    const resolveSecrets = options.secrets ?? ((names: string[]) => resolveSecretsFromEnv(names));
    // A missing secret is found now, not after a human approved the call that needs it.
    checkDeclaredSecrets(agents, resolveSecrets);
    const workspaceRoot = options.sandbox?.workspaceRoot ?? path.resolve('.data', 'workspaces');
    const deps: ActivityDeps = {
      registry: new AgentRegistry(agents),
      store: options.store,
      ...(memory ? { memory } : {}),
      model: modelProvider(options.model),
      ...(options.model.prices ? { prices: options.model.prices } : {}),
      defaultModel: options.model.defaultModel ?? 'gpt-4.1-mini',
      searchAttributes: options.searchAttributes ?? false,
      workspaceRoot,
      ...(options.sandbox?.snapshots === false ? {} : { snapshots: new WorkspaceSnapshots(workspaceRoot, options.sandbox?.snapshots ?? {}) }),
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 20_000,
      resolveSecrets,
      sandboxMode: options.sandbox?.mode ?? sandboxMode(),
    };
    const tracer = options.tracing?.tracer;
    if (options.tracing) deps.traceEagerTool = eagerToolTracer(tracer);
    super({
      name: 'agent-runtime',
      activities: createActivities(deps),
      workerInterceptors: options.tracing ? { activity: [agentSpanInterceptor(tracer)] } : {},
    });
    this.agents = agents;
    this.deps = deps;
    if (options.tracing) this.otel = new OpenTelemetryPlugin(options.tracing);
    this.probeSearchAttributes = options.searchAttributes === undefined;
  }

  private readonly probeSearchAttributes: boolean;

  override configureWorker(options: WorkerOptions): WorkerOptions {
    // Workflows first: Temporal's tracing plugin adds its workflow interceptors only when there is a workflowsPath.
    const own = withWorkflows(options);
    const configured = super.configureWorker(this.otel ? this.otel.configureWorker(own) : own);
    return {
      ...configured,
      // Heartbeats reach the server at least every 2 s, so a cancelled session stops its tools within ~2 s.
      maxHeartbeatThrottleInterval: configured.maxHeartbeatThrottleInterval ?? '2 seconds',
    };
  }

  override configureReplayWorker(options: ReplayWorkerOptions): ReplayWorkerOptions {
    const own = withWorkflows(options);
    return super.configureReplayWorker(this.otel ? this.otel.configureReplayWorker(own) : own);
  }

  override configureBundler(options: BundleOptions): BundleOptions {
    const own = withWorkflowsBundle(options);
    return super.configureBundler(this.otel ? this.otel.configureBundler(own) : own);
  }

  /** On a Client (`new Client({ plugins: [plugin] })`): Temporal's tracing interceptors, when tracing is on. */
  override configureClient(options: ClientOptions): ClientOptions {
    return super.configureClient(this.otel ? this.otel.configureClient(options) : options);
  }

  override async runWorker(worker: Worker, next: (w: Worker) => Promise<void>): Promise<void> {
    if (this.probeSearchAttributes) this.deps.searchAttributes = await hasSearchAttributes(worker);
    return super.runWorker(worker, next);
  }
}

type WebpackHook = NonNullable<BundleOptions['webpackConfigHook']>;

/** Aliases the entry's stand-in module to the application's workflows (or to nothing), after any hook of theirs. */
function aliasAppWorkflows(appWorkflowsPath: string | undefined, prev?: WebpackHook): WebpackHook {
  const app = appWorkflowsPath ? path.resolve(appWorkflowsPath) : false;
  return (input) => {
    const config = prev ? prev(input) : input;
    const resolve = config.resolve ?? {};
    const alias = (resolve.alias ?? {}) as Record<string, string | false>;
    config.resolve = { ...resolve, alias: { ...alias, [`${APP_WORKFLOWS_ALIAS}$`]: app } };
    return config;
  };
}

/**
 * Worker options: bundle the plugin's entry, with the application's `workflowsPath` inside it. Idempotent
 * (Worker.create may configure twice). A prebuilt `workflowBundle` is the application's: it must export
 * agentSession itself (`export * from 'agent-runtime/workflow'` in its workflows file).
 */
function withWorkflows<T extends WorkerOptions | ReplayWorkerOptions>(options: T): T {
  if (options.workflowBundle || options.workflowsPath === AGENT_WORKFLOWS_PATH) return options;
  return {
    ...options,
    workflowsPath: AGENT_WORKFLOWS_PATH,
    bundlerOptions: { ...options.bundlerOptions, webpackConfigHook: aliasAppWorkflows(options.workflowsPath, options.bundlerOptions?.webpackConfigHook) },
  };
}

/** The same for `bundleWorkflowCode({ workflowsPath, plugins: [plugin] })` (prebuilt bundles). */
function withWorkflowsBundle(options: BundleOptions): BundleOptions {
  if (options.workflowsPath === AGENT_WORKFLOWS_PATH) return options;
  return { ...options, workflowsPath: AGENT_WORKFLOWS_PATH, webpackConfigHook: aliasAppWorkflows(options.workflowsPath, options.webpackConfigHook) };
}

function modelProvider(model: ModelOptions): ModelProvider {
  if ('provider' in model) return model.provider;
  if ('client' in model) return openAIProvider(model.api ?? 'chat-completions', model.client);
  // Temporal retries the activity (with backoff, visible in history); the client does not retry on its own.
  return openAIProvider(model.api ?? 'chat-completions', openAIClient({ baseURL: model.baseURL, apiKey: model.apiKey }));
}

async function hasSearchAttributes(worker: Worker): Promise<boolean> {
  try {
    const registered = await worker.connection!.operatorService.listSearchAttributes({ namespace: worker.options.namespace });
    const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(k in (registered.customAttributes ?? {})));
    if (missing.length) {
      console.warn(`[agent-runtime] search attributes not registered on the server (${missing.join(', ')}): sessions will not upsert them`);
    }
    return missing.length === 0;
  } catch (err) {
    console.warn(`[agent-runtime] could not list search attributes (${String(err)}): sessions will not upsert them`);
    return false;
  }
}

function missingMemory(): MemoryStore {
  return new Proxy({} as MemoryStore, {
    get(_t, prop) {
      throw new Error(`agent-runtime: an agent factory used memory.${String(prop)} but the plugin has no 'memory' option: pass memory: await openMemoryStore(...)`);
    },
  });
}
