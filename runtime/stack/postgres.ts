/**
 * The stack's own PostgreSQL: a data dir it initialises once (and reuses on every later start), listening
 * only on 127.0.0.1 on its own port, with password auth for the `temporal` role. PostgreSQL refuses to
 * run as root, so as root it runs as the `postgres` user the Debian package creates (else `nobody`).
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { supervise, tailFile, type SupervisedProcess } from './process';

export const PG_USER = 'temporal';
// Local-only credentials, the same as docker-compose.yml's; the server accepts TCP on 127.0.0.1 only.
export const PG_PASSWORD = 'temporal';

export interface StackPostgres {
  port: number;
  /** URL of a database on this server. */
  url(database: string): string;
  process: SupervisedProcess;
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

function runAsUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      if (uid > 0) return { uid, gid, name };
    } catch {
      // No such user; try the next.
    }
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as (it refuses root)');
}

/** PG_BIN, else the Debian layout: the version the data dir was made with if present, otherwise the newest. */
export function postgresBinDir(dataDir?: string): string {
  const ok = (dir: string): boolean => existsSync(path.join(dir, 'initdb')) && existsSync(path.join(dir, 'postgres'));
  if (process.env.PG_BIN) {
    if (!ok(process.env.PG_BIN)) throw new Error(`PG_BIN=${process.env.PG_BIN} has no initdb and postgres`);
    return process.env.PG_BIN;
  }
  const root = '/usr/lib/postgresql';
  const wanted = dataDir && existsSync(path.join(dataDir, 'PG_VERSION')) ? readFileSync(path.join(dataDir, 'PG_VERSION'), 'utf8').trim() : undefined;
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (wanted) {
    if (ok(path.join(root, wanted, 'bin'))) return path.join(root, wanted, 'bin');
    throw new Error(`${dataDir} was created by PostgreSQL ${wanted}, whose binaries are not installed (apt-get install postgresql-${wanted}, or delete the folder to start over)`);
  }
  for (const v of versions) if (ok(path.join(root, v, 'bin'))) return path.join(root, v, 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (ok(dir)) return dir;
  } catch {
    // No pg_config either.
  }
  throw new Error('PostgreSQL server binaries not found (PG_BIN, /usr/lib/postgresql/<ver>/bin, pg_config --bindir). Install them: apt-get install -y postgresql');
}

/** The server user must reach the data dir: every parent needs o+x (a home dir under /root would not do). */
function checkTraversable(dir: string, user: string): void {
  for (let p = path.dirname(dir); p !== path.dirname(p); p = path.dirname(p)) {
    if ((statSync(p).mode & 0o001) === 0) {
      throw new Error(`PostgreSQL runs as '${user}' and cannot reach ${dir}: ${p} is not searchable by others (chmod o+x ${p}, or pass another data dir)`);
    }
  }
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as Array<Record<string, unknown>>;
  } finally {
    await c.end();
  }
}

export interface StackPostgresOptions {
  dir: string;
  port: number;
  logFile: string;
  ownerPid?: number;
  timeoutMs?: number;
  /** Data that may be lost on a machine crash (test stacks): no fsync, as the tests' own PostgreSQL does. */
  throwaway?: boolean;
}

export async function startStackPostgres(opts: StackPostgresOptions): Promise<StackPostgres> {
  const dataDir = path.join(opts.dir, 'data');
  const bin = postgresBinDir(dataDir);
  const runAs = runAsUser();
  mkdirSync(opts.dir, { recursive: true });
  if (runAs) {
    checkTraversable(opts.dir, runAs.name);
    chownSync(opts.dir, runAs.uid, runAs.gid);
  }
  const ids = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    rmSync(dataDir, { recursive: true, force: true }); // a half-made data dir from an interrupted initdb
    const pwFile = path.join(opts.dir, 'initdb.pw');
    writeFileSync(pwFile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    if (runAs) chownSync(pwFile, runAs.uid, runAs.gid);
    try {
      execFileSync(
        path.join(bin, 'initdb'),
        ['-D', dataDir, '-U', PG_USER, `--pwfile=${pwFile}`, '--auth-host=scram-sha-256', '--auth-local=peer', '-E', 'UTF8', '--locale=C', ...(opts.throwaway ? ['--no-sync'] : [])],
        { ...ids, env, cwd: opts.dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new Error(`initdb ${dataDir} failed${runAs ? ` (as ${runAs.name})` : ''}: ${e.stderr?.toString() || e.message}`);
    } finally {
      rmSync(pwFile, { force: true });
    }
  }

  const proc = await supervise({
    name: 'postgres',
    command: path.join(bin, 'postgres'),
    // No unix socket (its path length limit would depend on where the project is checked out): TCP on 127.0.0.1 only.
    args: ['-D', dataDir, '-p', String(opts.port), '-h', '127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200', '-c', 'log_min_messages=warning',
      ...(opts.throwaway ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [])],
    env,
    cwd: opts.dir,
    logFile: opts.logFile,
    stopSignal: 'INT', // fast shutdown: aborts open transactions, checkpoints, exits
    ...ids,
    ownerPid: opts.ownerPid,
  });
  const url = (database: string): string => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${opts.port}/${database}`;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exited = proc.exited();
    if (exited) throw new Error(`PostgreSQL did not start: ${exited}`);
    try {
      await query(url('postgres'), 'SELECT 1');
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`PostgreSQL on 127.0.0.1:${opts.port} did not accept connections within ${timeoutMs} ms (${String(err)}); see ${opts.logFile}:\n${tailFile(opts.logFile)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port: opts.port, url, process: proc, stop: () => proc.stop(30_000) };
}

/** CREATE DATABASE unless it exists (PostgreSQL has no IF NOT EXISTS for databases). */
export async function ensureDatabase(pg: StackPostgres, name: string): Promise<string> {
  const rows = await query(pg.url('postgres'), 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rows.length === 0) await query(pg.url('postgres'), `CREATE DATABASE "${name}"`);
  return pg.url(name);
}

export async function hasTable(url: string, table: string): Promise<boolean> {
  const rows = await query(url, 'SELECT 1 FROM information_schema.tables WHERE table_name = $1', [table]);
  return rows.length > 0;
}
