/**
 * Test harness: a real Temporal dev server (own port and db file), the scripted model server,
 * workers in-process or as child processes (for SIGKILL), and a client.
 *
 * AGENT_TEST_SERVER=stack (or `{ server: 'stack' }`): the production stack instead (runtime/stack: the
 * Temporal server v1.32.2 on its own PostgreSQL, advanced visibility on PostgreSQL), a fresh one per
 * suite, with the session and memory stores on that PostgreSQL too. `npm run test:stack` runs the
 * crash/restart suites that way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { releaseWorkspaceMounts } from '../../sandbox/quota';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { demoAgents } from '../../examples/agents';
import { openOutbox, sentDecisions, type SentDecision } from '../../examples/agents/application/outbox';
import { loadConfig, type RuntimeConfig } from '../../runtime/config';
import { startScriptedModelServer, type ModelScript, type ScriptedModelServer } from '../../runtime/scripted-model';
import { freeStackPorts, startStack, type Stack } from '../../runtime/stack';
import { startDevServer, type RunningServer } from '../../runtime/temporal-server';
import { createAgentWorker, type AgentWorker } from '../../workers/worker';
import { testAgents } from './agents';
import { WORKFLOW_BUNDLE } from './paths';

export { WORKFLOW_BUNDLE };
/** For the bench's row labels (examples/bench imports the repository's harness, not runtime/stack). */
export { STACK_LABEL } from '../../runtime/stack';

try {
  // ERROR: tests provoke activity failures on purpose; their WARN lines would drown the test report.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
} catch {
  /* already installed by another suite in this process */
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface ChildWorker {
  process: ChildProcess;
  /** SIGKILL, and wait until the process is gone. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface Harness {
  dir: string;
  server: RunningServer;
  model: ScriptedModelServer;
  config: RuntimeConfig & { TASK_QUEUE: string };
  /** Environment a worker process needs to join this harness. */
  env: Record<string, string>;
  client: Client;
  /** A second, independent client connection (approvals come from other processes in real life). */
  newClient(): Promise<Client>;
  startWorker(): Promise<AgentWorker>;
  /** A worker in its own process (SIGKILL-able); `extraEnv` overrides the harness's settings for it. */
  spawnWorker(extraEnv?: Record<string, string>): Promise<ChildWorker>;
  /** What the side-effecting demo tools delivered for a session (the outbox they write, keyed by idempotency key). */
  sent(sessionId: string): SentDecision[];
  /** SIGKILLs every worker process this harness spawned (so the next test controls which worker runs what). */
  killWorkers(): Promise<void>;
  /** Stops the server and starts it again on the same port and database (db file, or the stack's PostgreSQL). */
  restartServer(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** 'dev' (default): `temporal server start-dev`; 'stack': the production stack. Default from AGENT_TEST_SERVER. */
  server?: 'dev' | 'stack';
  /** Serve the Temporal Web UI too (dev server only; `server.uiUrl`). */
  webUi?: boolean;
}

/** The server a harness runs, whichever kind: what tests see as `h.server`, and how to restart and stop it. */
interface HarnessServer {
  current(): RunningServer;
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Store URLs for this kind of server (the stack keeps them on its PostgreSQL). */
  storeEnv: Record<string, string>;
}

async function devServer(dir: string, webUi: boolean): Promise<HarnessServer> {
  const port = await freePort();
  const dbFile = path.join(dir, 'temporal.db');
  const uiPort = webUi ? await freePort() : null;
  let server = await startDevServer({ port, uiPort, dbFile });
  return {
    current: () => server,
    async restart() {
      await server.stop();
      server = await startDevServer({ port, uiPort, dbFile });
    },
    stop: () => server.stop(),
    storeEnv: { AGENT_STORE_URL: `sqlite:${path.join(dir, 'sessions.sqlite')}`, MEMORY_URL: path.join(dir, 'memory.sqlite') },
  };
}

async function stackServer(dir: string): Promise<HarnessServer> {
  const ports = await freeStackPorts();
  const stack: Stack = await startStack({ dataDir: path.join(dir, 'stack'), ...ports, workers: 0, throwaway: true });
  const view = (): RunningServer => ({ address: stack.address, started: true, pid: stack.serverPid, stop: () => stack.stop() });
  return {
    current: view,
    restart: () => stack.restartServer(),
    stop: () => stack.stop(),
    storeEnv: { AGENT_STORE_URL: stack.pgUrl, MEMORY_URL: stack.pgUrl },
  };
}

export async function createHarness(script: ModelScript = [], extraEnv: Record<string, string> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-runtime-test-'));
  chmodSync(dir, 0o755); // the sandbox's unprivileged uid (and the stack's PostgreSQL user) must reach what is below
  const kind = opts.server ?? (process.env.AGENT_TEST_SERVER === 'stack' ? 'stack' : 'dev');
  const srv = kind === 'stack' ? await stackServer(dir) : await devServer(dir, opts.webUi ?? false);
  const model = await startScriptedModelServer(script);
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: srv.current().address,
    TASK_QUEUE: `test-${path.basename(dir)}`,
    OPENAI_BASE_URL: model.baseUrl,
    OPENAI_API_KEY: 'test-key',
    AGENT_MODEL: 'scripted-test-model',
    // The scripted model server is free; an unpriced model would stop the worker (runtime/pricing.ts).
    MODEL_PRICES_JSON: JSON.stringify({ 'scripted-test-model': { input: 0, output: 0 } }),
    ...srv.storeEnv,
    OUTBOX_DB: path.join(dir, 'outbox.sqlite'),
    WORKSPACE_ROOT: path.join(dir, 'workspaces'),
    WORKFLOW_BUNDLE,
    STICKY_TIMEOUT_MS: '1000',
    HEARTBEAT_TIMEOUT_MS: '3000',
    AGENT_SECRET_TEST_API_TOKEN: 'tok-9f8e7d6c5b4a-test-secret',
    ...extraEnv,
  };
  // In-process workers and tools read OUTBOX_DB from this process's env.
  process.env.OUTBOX_DB = env.OUTBOX_DB;
  process.env.AGENT_SECRET_TEST_API_TOKEN = env.AGENT_SECRET_TEST_API_TOKEN;
  const config = { ...loadConfig({ ...process.env, ...env }), TASK_QUEUE: env.TASK_QUEUE };
  const connect = async (): Promise<Client> => new Client({ connection: await Connection.connect({ address: srv.current().address }) });
  const clients: Client[] = [];
  const client = await connect();
  clients.push(client);
  const workers: AgentWorker[] = [];
  const children: ChildWorker[] = [];

  return {
    dir,
    get server() {
      return srv.current();
    },
    model,
    config,
    env,
    client,
    async newClient() {
      const c = await connect();
      clients.push(c);
      return c;
    },
    async startWorker() {
      const w = await createAgentWorker((deps) => [...demoAgents(deps), ...testAgents(deps)], config);
      workers.push(w);
      return w;
    },
    async spawnWorker(extraEnv: Record<string, string> = {}) {
      // `node --import tsx` keeps the worker in this one process, so SIGKILL really kills the worker.
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'worker-child.ts')], {
        env: { ...process.env, ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('WORKER_READY') && resolve());
        child.once('exit', (code) => reject(new Error(`worker child exited ${code} before ready:\n${stderr}`)));
      });
      const handle: ChildWorker = {
        process: child,
        kill: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGKILL');
          await gone;
        },
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const gone = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await gone;
        },
      };
      children.push(handle);
      return handle;
    },
    sent(sessionId) {
      const db = openOutbox(env.OUTBOX_DB);
      try {
        return sentDecisions(db, sessionId);
      } finally {
        db.close();
      }
    },
    async killWorkers() {
      await Promise.all(children.splice(0).map((c) => c.kill()));
    },
    async restartServer() {
      await srv.restart();
    },
    async close() {
      await Promise.all(children.map((c) => c.kill()));
      for (const w of workers) await w.shutdown().catch(() => undefined);
      for (const c of clients) await c.connection.close().catch(() => undefined);
      await model.close();
      await srv.stop();
      releaseWorkspaceMounts(dir); // workspaces are mounted filesystems (sandbox/quota.ts)
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
