/**
 * The production Temporal stack without Docker - what docker-compose.yml describes, as local processes:
 *
 *   PostgreSQL (own data dir, 127.0.0.1)  <- databases temporal, temporal_visibility, agent_runtime
 *   temporal-server v1.32.2 (built from the Go module proxy; frontend, history, matching and worker
 *     services in one process; persistence and advanced visibility on PostgreSQL; deploy/temporal/config.yaml)
 *   the `default` namespace and the runtime's custom search attributes
 *   N agent workers with the session store and memory store on PostgreSQL
 *
 *   const stack = await startStack({ workers: 2 });
 *   stack.address; stack.storeUrl; await stack.restartServer(); await stack.stop();
 *
 * Every wait is bounded and names the log to read. Everything listens on 127.0.0.1 only.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT, SEARCH_ATTRIBUTES, isTemporalHealthy } from '../temporal-server';
import { ensureServerBinaries, TEMPORAL_SERVER_VERSION, type BuildOptions, type ServerBinaries } from './build';
import { ensureDatabase, hasTable, PG_PASSWORD, PG_USER, startStackPostgres, type StackPostgres } from './postgres';
import { supervise, tailFile, type SupervisedProcess } from './process';

export { ensureServerBinaries, TEMPORAL_SERVER_VERSION } from './build';

/** The server config shared with docker-compose.yml (templated from the environment). */
export const SERVER_CONFIG = path.join(PROJECT_ROOT, 'deploy', 'temporal', 'config.yaml');
export const DYNAMIC_CONFIG = path.join(PROJECT_ROOT, 'deploy', 'temporal', 'dynamicconfig.yaml');
/** Label for figures measured on this stack (bench, reports). */
export const STACK_LABEL = `production stack: server ${TEMPORAL_SERVER_VERSION} on PostgreSQL`;
/** Database of the runtime's own session and memory stores, next to Temporal's two. */
export const AGENT_DATABASE = 'agent_runtime';

export interface StackOptions {
  /** Data and logs; default PROJECT_ROOT/.data/stack (kept between runs: the second start reuses it). */
  dataDir?: string;
  /** Temporal frontend gRPC port (the other services use fixed offsets, see config.yaml); default 7233. */
  port?: number;
  /** PostgreSQL port; default 55432 (next to, not on, a system PostgreSQL's 5432). */
  pgPort?: number;
  namespace?: string;
  /** Agent workers to start (`workers/main.ts`); default 0. */
  workers?: number;
  /** Extra environment for the workers (model endpoint, task queue, ...). */
  workerEnv?: Record<string, string>;
  /** Throwaway data (tests): PostgreSQL without fsync. Default false: the stack's data survives a machine crash. */
  throwaway?: boolean;
  /** Stop everything when this process is gone; default this process. */
  ownerPid?: number;
  build?: BuildOptions;
  log?: (msg: string) => void;
}

export interface Stack {
  address: string;
  namespace: string;
  /** PostgreSQL database of the runtime's session and memory stores (AGENT_STORE_URL, MEMORY_URL). */
  pgUrl: string;
  pgPort: number;
  /** The running server process (changes with restartServer). */
  readonly serverPid: number;
  binaries: ServerBinaries;
  dataDir: string;
  logsDir: string;
  readonly workers: SupervisedProcess[];
  /** Why a stack process (PostgreSQL, server, a worker) exited on its own, if one did. */
  failed(): string | null;
  /** Processes currently running, for status and `--stop`. */
  processes(): Array<{ name: string; pid: number; log: string }>;
  /** Stops the Temporal server (clean shutdown) and starts it again on the same databases. */
  restartServer(): Promise<void>;
  stop(): Promise<void>;
}

/** Every port the server binds for frontend gRPC port `p` (must match deploy/temporal/config.yaml). */
export function serverPorts(p: number): number[] {
  return [p, p + 1, p + 2, p + 6, p + 10, p - 300, p - 299, p - 298, p - 294];
}

/**
 * The SQL persistence stores membership ports in a PostgreSQL smallint (cluster_membership.rpc_port):
 * a port above 32767 makes the server exit at start ("out of range for type smallint").
 */
const MAX_MEMBERSHIP_PORT = 32_767;

function checkPorts(port: number): void {
  if (port - 300 < 1024 || port - 294 > MAX_MEMBERSHIP_PORT) {
    throw new Error(`--port ${port}: the server also binds ${port - 300}..${port - 294} for membership, which must be within 1024..${MAX_MEMBERSHIP_PORT} (PostgreSQL persistence stores them as smallint)`);
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A frontend port whose whole port set (and a PostgreSQL port next to it) is free; for tests and side-by-side stacks. */
export async function freeStackPorts(): Promise<{ port: number; pgPort: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_300 + Math.floor(Math.random() * (MAX_MEMBERSHIP_PORT + 294 - 10_300));
    const pgPort = port + 20;
    const all = [...serverPorts(port), pgPort];
    if ((await Promise.all(all.map(canBind))).every(Boolean)) return { port, pgPort };
  }
  throw new Error('no free port set for a Temporal stack found in 50 attempts');
}

function sqlTool(bin: ServerBinaries, pgPort: number, db: string, args: string[], logFile: string): Promise<void> {
  const common = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPort), '-u', PG_USER, '--pw', PG_PASSWORD, '--db', db];
  return new Promise((resolve, reject) => {
    execFile(bin.sqlTool, [...common, ...args], { timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      try {
        mkdirSync(path.dirname(logFile), { recursive: true });
        appendFileSync(logFile, `$ temporal-sql-tool --db ${db} ${args.join(' ')}\n${stdout}${stderr}\n`);
      } catch {
        // The log is a convenience; the error below carries the output anyway.
      }
      if (err) reject(new Error(`temporal-sql-tool --db ${db} ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`));
      else resolve();
    });
  });
}

/** Creates the databases and brings both schemas to the version shipped with the binaries (no-op when current). */
async function applySchemas(pg: StackPostgres, bin: ServerBinaries, logFile: string): Promise<void> {
  for (const [db, folder] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    const url = await ensureDatabase(pg, db);
    if (!(await hasTable(url, 'schema_version'))) await sqlTool(bin, pg.port, db, ['setup-schema', '-v', '0.0'], logFile);
    await sqlTool(bin, pg.port, db, ['update-schema', '-d', path.join(bin.schemaDir, 'postgresql', 'v12', folder, 'versioned')], logFile);
  }
  await ensureDatabase(pg, AGENT_DATABASE);
}

async function until<T>(what: string, timeoutMs: number, logFile: string, fn: () => Promise<T | undefined>, abort?: () => string | null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const stop = abort?.();
    if (stop) throw new Error(`${what}: ${stop}`);
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}; see ${logFile}:\n${tailFile(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

const VALUE_TYPES: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Text: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Bool: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
};

/** Registers the namespace and the runtime's search attributes if missing (what compose's temporal-setup does). */
async function setupNamespace(address: string, namespace: string, logFile: string): Promise<void> {
  const conn = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    // Right after start the frontend is up before history owns its shards: retry until registration works.
    await until(`namespace '${namespace}' to be registered`, 90_000, logFile, async () => {
      try {
        await conn.workflowService.describeNamespace({ namespace });
        return true;
      } catch (err) {
        if ((err as { code?: number }).code !== 5 /* NOT_FOUND */) throw err;
      }
      await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('3 days') });
      return true;
    });
    await until('the custom search attributes to be registered', 60_000, logFile, async () => {
      const have = (await conn.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
      const missing = Object.entries(SEARCH_ATTRIBUTES).filter(([name]) => !(name in have));
      if (missing.length === 0) return true;
      await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map(([n, t]) => [n, VALUE_TYPES[t]])) });
      return undefined;
    });
    // The frontend resolves namespaces and attribute names through caches refreshed every few seconds;
    // a visibility query naming every attribute succeeds only once all of them are visible to it.
    const probe = Object.entries(SEARCH_ATTRIBUTES)
      .map(([n, t]) => `${n} = ${t === 'Keyword' || t === 'Text' ? '"probe"' : t === 'Bool' ? 'true' : '0'}`)
      .join(' AND ');
    await until('the namespace and search attributes to be usable', 60_000, logFile, async () => {
      await conn.workflowService.listWorkflowExecutions({ namespace, query: probe, pageSize: 1 });
      return true;
    });
  } finally {
    await conn.close();
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const log = opts.log ?? (() => undefined);
  const dataDir = opts.dataDir ?? path.join(PROJECT_ROOT, '.data', 'stack');
  const logsDir = path.join(dataDir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const port = opts.port ?? 7233;
  const pgPort = opts.pgPort ?? 55432;
  const namespace = opts.namespace ?? 'default';
  const address = `127.0.0.1:${port}`;

  checkPorts(port);
  const binaries = await ensureServerBinaries({ log, ...opts.build });
  const busy = [];
  for (const p of [...serverPorts(port), pgPort]) if (!(await canBind(p))) busy.push(p);
  if (busy.length) {
    throw new Error(
      `ports in use on 127.0.0.1: ${busy.join(', ')} (the stack needs ${serverPorts(port).join(', ')} for Temporal and ${pgPort} for PostgreSQL). ` +
        'Stop what uses them (a dev server from `npm start`? `npm run stack -- --stop`?) or pass --port / --pg-port.',
    );
  }

  let server: SupervisedProcess | undefined;
  const workers: SupervisedProcess[] = [];
  let pg: StackPostgres | undefined;
  const stopAll = async (): Promise<void> => {
    await Promise.all(workers.splice(0).map((w) => w.stop(15_000)));
    await server?.stop(30_000);
    server = undefined;
    await pg?.stop();
    pg = undefined;
  };

  try {
    log(`PostgreSQL on 127.0.0.1:${pgPort} (data ${path.join(dataDir, 'postgres', 'data')})`);
    pg = await startStackPostgres({ dir: path.join(dataDir, 'postgres'), port: pgPort, logFile: path.join(logsDir, 'postgres.log'), ownerPid: opts.ownerPid, throwaway: opts.throwaway });
    const schemaLog = path.join(logsDir, 'schema.log');
    log(`schemas: temporal, temporal_visibility (temporal-sql-tool, log ${schemaLog})`);
    await applySchemas(pg, binaries, schemaLog);

    const serverLog = path.join(logsDir, 'temporal-server.log');
    const startServer = async (): Promise<SupervisedProcess> => {
      const proc = await supervise({
        name: 'temporal-server',
        command: binaries.server,
        args: ['--config-file', SERVER_CONFIG, '--allow-no-auth', 'start'],
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TEMPORAL_PORT: String(port),
          BIND_ON_IP: '127.0.0.1',
          POSTGRES_SEEDS: '127.0.0.1',
          DB_PORT: String(pgPort),
          POSTGRES_USER: PG_USER,
          POSTGRES_PWD: PG_PASSWORD,
          DYNAMIC_CONFIG_FILE_PATH: DYNAMIC_CONFIG,
          LOG_LEVEL: process.env.TEMPORAL_LOG_LEVEL ?? 'warn',
        },
        cwd: PROJECT_ROOT,
        logFile: serverLog,
        ownerPid: opts.ownerPid,
      });
      await until(`the Temporal server at ${address} to be healthy`, 120_000, serverLog, async () => ((await isTemporalHealthy(address)) ? true : undefined), proc.exited);
      return proc;
    };
    log(`Temporal server ${binaries.version} on ${address} (config ${path.relative(PROJECT_ROOT, SERVER_CONFIG)}, log ${serverLog})`);
    server = await startServer();
    await setupNamespace(address, namespace, serverLog);
    log(`namespace '${namespace}' with search attributes ${Object.keys(SEARCH_ATTRIBUTES).join(', ')}`);

    const pgUrl = pg.url(AGENT_DATABASE);
    for (let i = 1; i <= (opts.workers ?? 0); i++) {
      const logFile = path.join(logsDir, `worker-${i}.log`);
      // workers/main.ts prints '[worker] polling' once it polls (the log is appended to across runs).
      const before = tailFile(logFile, 1000).split('[worker] polling').length;
      const w = await supervise({
        name: `worker-${i}`,
        command: process.execPath,
        args: ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'main.ts')],
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: address,
          TEMPORAL_NAMESPACE: namespace,
          AGENT_STORE_URL: pgUrl,
          MEMORY_URL: pgUrl,
          ...opts.workerEnv,
        },
        cwd: PROJECT_ROOT,
        logFile,
        ownerPid: opts.ownerPid,
      });
      workers.push(w);
      // Workers start in turn, so two do not bundle the workflow code at the same time on 2 cores.
      await until(`worker ${i} to poll`, 180_000, logFile, async () => (tailFile(logFile, 1000).split('[worker] polling').length > before ? true : undefined), w.exited);
      log(`worker ${i}: pid ${w.pid}, log ${logFile}`);
    }

    return {
      address,
      namespace,
      pgUrl,
      pgPort,
      get serverPid() {
        return server?.pid ?? 0;
      },
      binaries,
      dataDir,
      logsDir,
      workers,
      failed() {
        for (const p of [pg?.process, server, ...workers]) if (p?.exited()) return p.exited();
        return null;
      },
      processes() {
        return [pg?.process, server, ...workers].filter((p): p is SupervisedProcess => !!p).map((p) => ({ name: p.name, pid: p.pid, log: p.logFile }));
      },
      async restartServer() {
        await server?.stop(30_000);
        server = await startServer();
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }
}

/** The pid recorded by a running `npm run stack` (its state file), if that process is alive. */
export function readStackState(dataDir = path.join(PROJECT_ROOT, '.data', 'stack')): StackState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dataDir, 'stack.json'), 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

export interface StackState {
  pid: number;
  address: string;
  pgUrl: string;
  processes: Array<{ name: string; pid: number; log: string }>;
}
