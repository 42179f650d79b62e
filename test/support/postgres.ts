/**
 * Throwaway PostgreSQL for tests: one real server per jest test file, started from the distribution's
 * binaries (Debian: /usr/lib/postgresql/<ver>/bin), data and unix socket in a temp dir, listening on
 * 127.0.0.1 on a free port, trust auth. Suites isolate themselves with `createDatabase()` or
 * `createSchema()` so the same server can be an external one (CI service, developer's own server).
 *
 *   const pg = await startPostgres();          // null: no server available, suite skips (never on CI)
 *   const url = await pg.createDatabase('sessions');
 *   ...
 *   await pg.stop();                           // drops what it created / shuts the server down
 *
 * Selection order:
 *   1. PG_URL or DATABASE_URL set: use that server, start nothing.
 *   2. Binaries found (PG_BIN, else the newest /usr/lib/postgresql/<ver>/bin, else `pg_config --bindir`):
 *      initdb + postgres as an unprivileged user (initdb refuses to run as root: as root we run it as the
 *      `postgres` OS user the Debian package creates, else `nobody`).
 *   3. Nothing found: throw when CI is set (the PG suites must run there), else return null.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface PostgresServer {
  /** URL of the server's maintenance database (`postgres`) or of the external server as given. */
  url: string;
  /** True when PG_URL/DATABASE_URL pointed at a server we did not start. */
  external: boolean;
  /** Creates a fresh, uniquely named database and returns its URL; dropped by `stop()`. */
  createDatabase(prefix?: string): Promise<string>;
  /** Creates a fresh, uniquely named schema in the `url` database and returns its name; dropped by `stop()`. */
  createSchema(prefix?: string): Promise<string>;
  /** Drops created databases/schemas; for a server we started, shuts it down and removes its files. */
  stop(): Promise<void>;
}

export interface PostgresBinaries {
  binDir: string;
  version: string;
}

const ENV_URL_VARS = ['PG_URL', 'DATABASE_URL'] as const;

function externalUrl(): string | undefined {
  for (const name of ENV_URL_VARS) {
    const v = process.env[name];
    if (v && v.trim()) return v.trim();
  }
  return undefined;
}

function hasServerBinaries(dir: string): boolean {
  return ['initdb', 'postgres'].every((b) => {
    try {
      fs.accessSync(path.join(dir, b), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Locates initdb/postgres. Sync so suites can decide `describe` vs `describe.skip` at collection time. */
export function findPostgresBinaries(): PostgresBinaries | null {
  const explicit = process.env.PG_BIN;
  if (explicit) {
    if (!hasServerBinaries(explicit)) throw new Error(`PG_BIN=${explicit} has no executable initdb and postgres`);
    return { binDir: explicit, version: 'PG_BIN' };
  }
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // Not a Debian-style layout; fall through to pg_config.
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (hasServerBinaries(dir)) return { binDir: dir, version: v };
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dir && hasServerBinaries(dir)) return { binDir: dir, version: 'pg_config' };
  } catch {
    // pg_config absent (only client packages, or nothing installed).
  }
  return null;
}

const MISSING_MESSAGE =
  'PostgreSQL server binaries not found (looked in PG_BIN, /usr/lib/postgresql/<ver>/bin, pg_config --bindir) ' +
  'and neither PG_URL nor DATABASE_URL is set. Install them with `apt-get install -y postgresql`.';

/**
 * Null when a PostgreSQL server can be had; otherwise the reason a suite should skip.
 * Throws on CI, where silently skipping the PostgreSQL suites would hide a broken setup.
 */
export function postgresSkipReason(): string | null {
  if (externalUrl() || findPostgresBinaries()) return null;
  if (process.env.CI) throw new Error(`CI is set but ${MISSING_MESSAGE}`);
  return MISSING_MESSAGE;
}

function uniqueName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30) || 't';
  return `${clean}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(db)}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Tracks what a suite created so `stop()` can drop it, which matters on a shared external server. */
function isolationHelpers(url: string): Pick<PostgresServer, 'createDatabase' | 'createSchema'> & { dropAll(): Promise<void> } {
  const databases: string[] = [];
  const schemas: string[] = [];
  return {
    async createDatabase(prefix = 'test') {
      const name = uniqueName(prefix);
      await withClient(url, (c) => c.query(`CREATE DATABASE "${name}"`));
      databases.push(name);
      return withDatabase(url, name);
    },
    async createSchema(prefix = 'test') {
      const name = uniqueName(prefix);
      await withClient(url, (c) => c.query(`CREATE SCHEMA "${name}"`));
      schemas.push(name);
      return name;
    },
    async dropAll() {
      if (databases.length === 0 && schemas.length === 0) return;
      await withClient(url, async (c) => {
        for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        // WITH (FORCE) (PG13+) so a pool a suite forgot to close cannot keep the database alive.
        for (const d of databases.splice(0)) await c.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
      });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** initdb refuses root; pick an existing unprivileged account instead of creating one (no system changes). */
function unprivilegedUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      if (Number.isInteger(uid) && Number.isInteger(gid) && uid !== 0) return { uid, gid, name };
    } catch {
      // No such user; try the next.
    }
  }
  throw new Error('running as root and neither a `postgres` nor a `nobody` user exists to run initdb/postgres as');
}

/**
 * Runs postgres under a tiny shell supervisor: it forwards SIGTERM as a fast shutdown (SIGINT), and it
 * polls for the owning (jest) process so that a test run killed with SIGKILL does not leave an orphaned
 * server and data dir behind; `sleep & wait` keeps the trap responsive.
 */
const SUPERVISOR = `
"$PGBIN/postgres" -D "$PGDATA" -p "$PGPORT" -h 127.0.0.1 -k "$PGROOT" \\
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off \\
  -c max_connections=200 -c shared_buffers=64MB -c log_min_messages=warning \\
  >>"$PGROOT/server.log" 2>&1 &
pg=$!
finish() { kill -INT "$pg" 2>/dev/null; wait "$pg"; exit $?; }
trap finish INT TERM HUP
while kill -0 "$pg" 2>/dev/null; do
  if [ ! -d "/proc/$OWNER_PID" ]; then kill -INT "$pg"; wait "$pg"; rm -rf "$PGROOT"; exit 1; fi
  sleep 1 & wait $!
done
wait "$pg"
`;

async function waitReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`postgres exited during startup (${child.exitCode ?? child.signalCode}):\n${readLog(logFile)}`);
    }
    try {
      await withClient(url, (c) => c.query('SELECT 1'));
      return;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres did not accept connections within ${timeoutMs} ms: ${String(lastError)}\n${readLog(logFile)}`);
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000);
  } catch {
    return '(no server log)';
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export interface StartPostgresOptions {
  /** Where progress/skip messages go; default console.warn for the skip message only. */
  log?: (msg: string) => void;
  /** Startup timeout; default 30 s (initdb + first connection take ~2 s here). */
  timeoutMs?: number;
}

/**
 * Starts (or attaches to) a PostgreSQL server. Returns null only when none can be had and CI is not set,
 * after printing why, so the caller can skip visibly.
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer | null> {
  const ext = externalUrl();
  if (ext) {
    const helpers = isolationHelpers(ext);
    return { url: ext, external: true, ...helpers, stop: () => helpers.dropAll() };
  }
  const bins = findPostgresBinaries();
  if (!bins) {
    if (process.env.CI) throw new Error(`CI is set but ${MISSING_MESSAGE}`);
    (opts.log ?? console.warn)(`[postgres harness] skipping: ${MISSING_MESSAGE}`);
    return null;
  }
  const runAs = unprivilegedUser();
  // The server user must be able to traverse the parent: /tmp normally; os.tmpdir() may be private to root.
  const base = runAs && (fs.statSync(os.tmpdir()).mode & 0o001) === 0 ? '/tmp' : os.tmpdir();
  const root = fs.mkdtempSync(path.join(base, 'pgtest-'));
  const dataDir = path.join(root, 'data');
  const logFile = path.join(root, 'server.log');
  if (runAs) fs.chownSync(root, runAs.uid, runAs.gid);
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };

  try {
    execFileSync(
      path.join(bins.binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { ...ids, env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed${runAs ? ` (as ${runAs.name})` : ''}: ${e.stderr?.toString() || e.message}`);
  }

  // A free port can be taken between probing and binding (parallel jest workers): retry a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const child = spawn('/bin/sh', ['-c', SUPERVISOR], {
      ...ids,
      cwd: root,
      env: { ...env, PGBIN: bins.binDir, PGDATA: dataDir, PGPORT: String(port), PGROOT: root, OWNER_PID: String(process.pid) },
      stdio: 'ignore',
      // Own process group: a group-wide kill of the test run (timeout, CI runner) must not take the
      // supervisor down before it has shut postgres down and removed the data dir.
      detached: true,
    });
    // Forgetting stop() must not keep a script alive; the supervisor cleans up once we are gone.
    child.unref();
    try {
      await waitReady(url, child, logFile, opts.timeoutMs ?? 30_000);
    } catch (err) {
      lastError = err;
      child.kill('SIGKILL');
      await waitExit(child, 5000);
      if (/already in use|could not bind/i.test(readLog(logFile))) continue;
      fs.rmSync(root, { recursive: true, force: true });
      throw err;
    }
    opts.log?.(`[postgres harness] PostgreSQL ${bins.version} on ${url} (data ${dataDir})`);
    const helpers = isolationHelpers(url);
    let stopped = false;
    return {
      url,
      external: false,
      ...helpers,
      async stop() {
        if (stopped) return;
        stopped = true;
        // The server goes away entirely, so dropping databases first would only cost time.
        child.kill('SIGTERM');
        if (!(await waitExit(child, 15_000))) {
          killPostmaster(dataDir);
          child.kill('SIGKILL');
          await waitExit(child, 5000);
        }
        fs.rmSync(root, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(root, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Last resort when the supervisor hangs: postmaster.pid's first line is the server's pid. */
function killPostmaster(dataDir: string): void {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGQUIT');
  } catch {
    // Already gone.
  }
}
