/**
 * The production Temporal server and its SQL schema tool, built from the Go module proxy at a pinned
 * version into a project-local cache keyed by that version:
 *
 *   .cache/temporal-server/<version>/bin/temporal-server
 *   .cache/temporal-server/<version>/bin/temporal-sql-tool
 *   .cache/temporal-server/<version>/schema/postgresql/v12/{temporal,visibility}/versioned/...
 *
 * Built once (~6.5 min cold on 2 cores; Go keeps its module and build caches in $HOME, so a fresh clone
 * on the same machine links in about a minute) and reused while the three parts are there.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../temporal-server';

/** The Temporal server release the stack runs (keep docker-compose.yml's image tags in step). */
export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
/** The server's go.mod needs a newer Go than Debian ships; the go command fetches this toolchain from the Go proxy. */
export const GO_TOOLCHAIN = 'go1.27.3';

export interface ServerBinaries {
  version: string;
  server: string;
  sqlTool: string;
  /** Holds postgresql/v12/{temporal,visibility}/versioned. */
  schemaDir: string;
}

export interface BuildOptions {
  version?: string;
  /** Default: PROJECT_ROOT/.cache/temporal-server. */
  cacheRoot?: string;
  log?: (msg: string) => void;
  /** Bounds the build; default 30 min (a cold build is ~6.5 min on 2 idle cores). */
  timeoutMs?: number;
}

export function serverCacheDir(opts: Pick<BuildOptions, 'version' | 'cacheRoot'> = {}): string {
  return path.join(opts.cacheRoot ?? path.join(PROJECT_ROOT, '.cache', 'temporal-server'), opts.version ?? TEMPORAL_SERVER_VERSION);
}

function paths(dir: string, version: string): ServerBinaries {
  return {
    version,
    server: path.join(dir, 'bin', 'temporal-server'),
    sqlTool: path.join(dir, 'bin', 'temporal-sql-tool'),
    schemaDir: path.join(dir, 'schema'),
  };
}

function complete(p: ServerBinaries): boolean {
  return (
    existsSync(p.server) &&
    existsSync(p.sqlTool) &&
    existsSync(path.join(p.schemaDir, 'postgresql', 'v12', 'temporal', 'versioned')) &&
    existsSync(path.join(p.schemaDir, 'postgresql', 'v12', 'visibility', 'versioned'))
  );
}

/** The cached binaries if all parts are there, without building anything. */
export function cachedServerBinaries(opts: Pick<BuildOptions, 'version' | 'cacheRoot'> = {}): ServerBinaries | undefined {
  const version = opts.version ?? TEMPORAL_SERVER_VERSION;
  const p = paths(serverCacheDir(opts), version);
  return complete(p) ? p : undefined;
}

/** The go command on PATH if it can switch toolchains (GOTOOLCHAIN needs Go >= 1.21). */
function goOnPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' });
  const go = r.stdout.trim();
  if (r.status !== 0 || !go) return undefined;
  const v = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } }).stdout.trim();
  const m = /^go1\.(\d+)/.exec(v);
  return m && Number(m[1]) >= 21 ? go : undefined;
}

const GO_MISSING = [
  `The production stack builds the Temporal server ${TEMPORAL_SERVER_VERSION} from source and needs the Go command (Go >= 1.21;`,
  `it fetches the ${GO_TOOLCHAIN} toolchain itself). Install one of:`,
  '  - https://go.dev/dl/ (Debian 12\'s golang-go is 1.19: too old)',
  '  - macOS: brew install go',
  'or use Docker instead: docker compose up -d',
].join('\n');

/**
 * Without a usable go command, fetch the pinned toolchain the way `GOTOOLCHAIN` does: it is the Go module
 * golang.org/toolchain on the Go module proxy, a zip of a complete Go distribution.
 */
async function fetchToolchain(cacheRoot: string, log: (msg: string) => void): Promise<string> {
  const arch = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
  if (process.platform !== 'linux' || !arch) throw new Error(GO_MISSING);
  const mod = `v0.0.1-${GO_TOOLCHAIN}.linux-${arch}`;
  const root = path.join(cacheRoot, 'go', mod);
  const goBin = path.join(root, `golang.org/toolchain@${mod}`, 'bin', 'go');
  if (existsSync(goBin)) return goBin;
  const proxy = (process.env.GOPROXY ?? 'https://proxy.golang.org').split(/[,|]/)[0].replace(/\/$/, '');
  const url = `${proxy}/golang.org/toolchain/@v/${mod}.zip`;
  log(`no go command >= 1.21 on PATH: fetching the ${GO_TOOLCHAIN} toolchain from ${url}`);
  let body: ArrayBuffer;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10 * 60_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.arrayBuffer();
  } catch (err) {
    throw new Error(`${GO_MISSING}\n(fetching ${url} failed: ${String(err)})`);
  }
  const scratch = `${root}.partial`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const zip = path.join(scratch, 'toolchain.zip');
  writeFileSync(zip, Buffer.from(body));
  const unzip = spawnSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])', zip, scratch], { encoding: 'utf8' });
  if (unzip.status !== 0) throw new Error(`${GO_MISSING}\n(unpacking ${zip} with python3 failed: ${unzip.stderr})`);
  rmSync(zip);
  // Module zips carry no file modes: make the commands executable, as the go command does for toolchains.
  const dist = path.join(scratch, `golang.org/toolchain@${mod}`);
  const exec = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir)) {
      const p = path.join(dir, e);
      if (statSync(p).isDirectory()) exec(p);
      else chmodSync(p, 0o755);
    }
  };
  exec(path.join(dist, 'bin'));
  exec(path.join(dist, 'pkg', 'tool'));
  rmSync(root, { recursive: true, force: true });
  renameSync(scratch, root);
  return goBin;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish within ${Math.round(timeoutMs / 1000)} s; its output so far:\n${out.slice(-3000)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${what} failed (code ${code}, signal ${signal}):\n${out.slice(-3000)}`));
    });
  });
}

/** Files in Go's module cache are read-only; copies must be writable so the cache folder can be deleted. */
function makeWritable(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.mode | 0o200);
  if (st.isDirectory()) for (const e of readdirSync(p)) makeWritable(path.join(p, e));
}

/**
 * Returns the server binaries and schema for `version`, building them first when the cache lacks any part.
 * The build goes to a scratch folder that is renamed into place at the end, so an interrupted build
 * never leaves a cache that looks complete.
 */
export async function ensureServerBinaries(opts: BuildOptions = {}): Promise<ServerBinaries> {
  const version = opts.version ?? TEMPORAL_SERVER_VERSION;
  const dir = serverCacheDir(opts);
  const target = paths(dir, version);
  if (complete(target)) return target;

  const log = opts.log ?? (() => undefined);
  const cacheRoot = path.dirname(path.dirname(dir)); // .cache
  const go = goOnPath() ?? (await fetchToolchain(cacheRoot, log));
  const scratch = `${dir}.partial`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(path.join(scratch, 'bin'), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOTOOLCHAIN: GO_TOOLCHAIN,
    // Resolve the server's own go.mod requirements even if the user has GOFLAGS=-mod=vendor or similar.
    GOFLAGS: '-mod=mod',
    GOBIN: path.join(scratch, 'bin'),
  };
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const t0 = Date.now();
  log(`building the Temporal server ${version} and its SQL tool with Go (${GO_TOOLCHAIN}); first time ~6-7 min on 2 cores...`);
  await run(
    go,
    ['install', `go.temporal.io/server/cmd/server@${version}`, `go.temporal.io/server/cmd/tools/sql@${version}`],
    env,
    timeoutMs,
    `go install go.temporal.io/server/cmd/server@${version} cmd/tools/sql@${version}`,
  );
  // `go install` names binaries after their package folders; give them the names the images use.
  renameSync(path.join(scratch, 'bin', 'server'), path.join(scratch, 'bin', 'temporal-server'));
  renameSync(path.join(scratch, 'bin', 'sql'), path.join(scratch, 'bin', 'temporal-sql-tool'));

  const modDir = (await run(go, ['env', 'GOMODCACHE'], env, 60_000, 'go env GOMODCACHE')).trim();
  const schemaSrc = path.join(modDir, 'go.temporal.io', `server@${version}`, 'schema', 'postgresql');
  if (!existsSync(schemaSrc)) throw new Error(`the PostgreSQL schema is not where the module cache should have it: ${schemaSrc}`);
  const schemaDst = path.join(scratch, 'schema', 'postgresql');
  cpSync(schemaSrc, schemaDst, { recursive: true });
  makeWritable(schemaDst);

  rmSync(dir, { recursive: true, force: true });
  renameSync(scratch, dir);
  log(`built in ${Math.round((Date.now() - t0) / 1000)} s -> ${dir}`);
  return target;
}
