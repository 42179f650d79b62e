/**
 * Runs a command inside a bubblewrap sandbox with resource limits.
 *
 * Process chain for one run (each step `exec`s the next, so node stays the direct parent of bwrap and
 * `--die-with-parent` follows the worker):
 *
 *   dash (joins the per-run cgroups, sets rlimits) -> setpriv (uid/gid 65534, no caps, no_new_privs,
 *     empty bounding set) -> bwrap (unprivileged: new user/pid/net/ipc/uts/cgroup/mount namespaces,
 *     seccomp filter) -> command          [without dash: /bin/sh (cgroups) -> prlimit (rlimits) -> ...]
 *
 * Why this shape:
 * - Joining the cgroups from inside the wrapper *before* exec means no process of the run can ever
 *   exist outside them (writing bwrap's pid from node after spawn would race with its first fork).
 * - bwrap runs as the unprivileged uid, not as root: inside a user namespace set up by root the
 *   sandbox uid would map back to host root, and RLIMIT_NPROC does not apply to root.
 * - Every process of the run lives in a fresh pid namespace whose init is bwrap's reaper; when the
 *   command exits, or bwrap is killed, or the worker dies (`--die-with-parent`), the namespace is torn
 *   down and the kernel kills everything left in it (nohup/setsid/double-fork included).
 * - Nothing of the worker leaks in: the wrapper gets a two-variable environment, bwrap's options (with
 *   the sandbox env) arrive through a pipe rather than the world-readable argv, and descriptors the
 *   worker inherited without close-on-exec are overwritten with /dev/null in the child.
 *
 * `SANDBOX=none` is an explicit opt-in to run commands directly on the host (for development on machines
 * without user namespaces); cgroup and rlimit limits still apply but there is no isolation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { cgroupBackend, cgroupBases, createRunCgroups, destroyRunCgroups, killCgroup, oomKills, resetCgroupDetection, sweepStaleCgroups, useCgroupBackend, type RunCgroups } from './cgroups';
import { seccompProgram } from './seccomp';
import { protectionStatus } from './protections';
import { FD_CMD_STDERR, SetupChannel, TRAMPOLINE } from './setup-channel';
import { assertUnderQuota, ensureWorkspaceFs, quotaAvailable, workspaceUsage } from './quota';

// ---------------------------------------------------------------------------------------------------
// Public types

/**
 * 'bubblewrap-degraded(no-seccomp,...)' when the operator allowed running without a protection this host
 * lacks (SANDBOX_ALLOW_DEGRADED, see protections.ts); shown in state and the SandboxMode attribute.
 */
export type SandboxMode = 'bubblewrap' | 'none' | `bubblewrap-degraded(${string})`;

/**
 * Network policy. Only 'none' (no network namespace peers at all: not even the host loopback) exists
 * today; the object form leaves room for an egress allowlist (a proxy reachable through a socket bound
 * into the sandbox), which is typed here so callers can be written against it but is rejected at run time.
 */
export type SandboxNetwork = 'none' | { mode: 'none' } | { mode: 'allowlist'; allow: string[] };

export interface SandboxLimits {
  /** Wall-clock limit; the whole process tree is killed when it passes. */
  timeoutMs: number;
  /** CPU seconds per process (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL one second later). */
  cpuSeconds: number;
  /** Memory of the whole run (cgroup v1 memory.limit_in_bytes, incl. tmpfs pages); RLIMIT_DATA per process as fallback. */
  memoryBytes: number;
  /** Tasks (processes + threads) of the run (cgroup pids.max; RLIMIT_NPROC only in the degraded mode without cgroups). */
  maxProcesses: number;
  /** Largest file a process may write (RLIMIT_FSIZE). */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** Size of the private /tmp (and of /dev/shm) tmpfs. */
  tmpBytes: number;
  /** Bytes captured per stream (stdout, stderr); the rest is counted and dropped. */
  outputBytes: number;
  /** Total output (both streams) after which the command is killed as a flood. */
  outputKillBytes: number;
  /**
   * Disk the workspace may use: its own filesystem (quota.ts), checked during the run (killed when over),
   * at its end (killedReason 'disk') and before the next run (refused while over).
   */
  workspaceBytes: number;
  /**
   * CPU bandwidth of the run in cores (cgroup cpu.cfs_quota_us); 0 = no bandwidth limit (the default).
   * Off by default because a per-run CPU cgroup costs start-up latency on a busy host (group scheduling
   * of a fresh cgroup: measured +6-10 ms p50 at load 4 on 2 cores); RLIMIT_CPU and the wall clock still
   * bound a run's total CPU.
   */
  cpus: number;
}

export interface SandboxRequest {
  /** Host path of the workspace, bound read-write at /workspace. Created if missing. */
  workspaceDir: string;
  argv: string[];
  stdin?: string | Uint8Array;
  /** Extra environment variables; the sandbox starts from an empty environment. */
  env?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  network: SandboxNetwork;
  signal?: AbortSignal;
}

export type SandboxKillReason = 'timeout' | 'cancelled' | 'memory' | 'output' | 'disk' | 'cpu';

export interface SandboxResult {
  /**
   * Exit status of the command. A command killed by a signal *inside* the sandbox reports 128+N (as a
   * shell would); `null` only when the sandbox itself was killed from outside (then `signal` is set).
   */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /**
   * Captured output decoded as UTF-8. Invalid sequences are replaced by U+FFFD and the stream is flagged
   * in `binary` (write binary data to a file and read it with `read_file` encoding 'base64' instead).
   * When a stream exceeds `limits.outputBytes` it is cut on a character boundary and `TRUNCATION_MARKER`
   * plus the byte counts are appended.
   */
  stdout: string;
  stderr: string;
  truncated: { stdout: boolean; stderr: boolean };
  binary: { stdout: boolean; stderr: boolean };
  timedOut: boolean;
  killedReason: SandboxKillReason | null;
  durationMs: number;
  mode: SandboxMode;
}

export type SandboxCheck = { ok: true } | { ok: false; reason: string; fix: string };

/** Thrown when the sandbox cannot be created at all (as opposed to a command that fails inside it). */
export class SandboxUnavailableError extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`sandbox unavailable: ${reason}. Fix: ${fix}`);
    this.name = 'SandboxUnavailableError';
  }
}

/** Starts the line appended to a truncated stream. */
export const TRUNCATION_MARKER = '[agent-sandbox: output truncated';

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = Object.freeze({
  timeoutMs: 30_000,
  cpuSeconds: 30,
  memoryBytes: 512 * 1024 * 1024,
  maxProcesses: 256,
  fileSizeBytes: 256 * 1024 * 1024,
  openFiles: 512,
  tmpBytes: 64 * 1024 * 1024,
  outputBytes: 64 * 1024,
  outputKillBytes: 16 * 1024 * 1024,
  workspaceBytes: 1024 * 1024 * 1024,
  cpus: 0,
});

/** Host uid/gid the sandboxed processes run as (and own the workspace). */
export const SANDBOX_UID = Number(process.env.AGENT_SANDBOX_UID ?? 65534);
export const SANDBOX_GID = Number(process.env.AGENT_SANDBOX_GID ?? SANDBOX_UID);

// ---------------------------------------------------------------------------------------------------
// Validation at the boundary

const posInt = z.number().int().positive();
const LimitsSchema = z.strictObject({
  timeoutMs: posInt.max(24 * 3600_000),
  cpuSeconds: posInt.max(24 * 3600),
  memoryBytes: posInt.min(32 * 1024 * 1024),
  // bwrap itself needs a few tasks (monitor, reaper) before the command starts.
  maxProcesses: posInt.min(8),
  fileSizeBytes: posInt,
  openFiles: posInt.min(16),
  tmpBytes: posInt.min(1024 * 1024),
  outputBytes: posInt,
  outputKillBytes: posInt,
  workspaceBytes: posInt,
  cpus: z.number().min(0).max(1024),
});

/** Linux refuses single arguments above MAX_ARG_STRLEN (32 pages) and a total above ~1/4 of the stack rlimit. */
const MAX_ARG_BYTES = 128 * 1024 - 1;
const MAX_ARGV_TOTAL_BYTES = 1024 * 1024;

const noNul = (s: string): boolean => !s.includes('\0');
const NetworkSchema = z.union([
  z.literal('none'),
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('allowlist'), allow: z.array(z.string()) }),
]);
const RequestSchema = z.strictObject({
  workspaceDir: z.string().min(1).refine(noNul, 'must not contain NUL'),
  argv: z
    .array(
      z
        .string()
        .refine(noNul, 'arguments must not contain NUL')
        .refine((s) => Buffer.byteLength(s) <= MAX_ARG_BYTES, `an argument is longer than ${MAX_ARG_BYTES} bytes`),
    )
    .min(1),
  stdin: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$'),
      z.string().refine(noNul, 'environment values must not contain NUL'),
    )
    .optional(),
  limits: LimitsSchema.partial().optional(),
  network: NetworkSchema,
  signal: z.instanceof(AbortSignal).optional(),
});

export function resolveLimits(limits?: Partial<SandboxLimits>): SandboxLimits {
  const parsed = LimitsSchema.partial().parse(limits ?? {});
  const merged: SandboxLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(parsed) as Array<[keyof SandboxLimits, number | undefined]>) {
    if (v !== undefined) merged[k] = v;
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------------
// Mode and availability

/**
 * 'none' only when the operator set SANDBOX=none explicitly; unknown values fail closed. With bubblewrap,
 * missing protections the operator allowed make it 'bubblewrap-degraded(no-...)'; missing protections
 * not allowed leave it 'bubblewrap' and every run is refused (checkSandbox says why).
 */
export function sandboxMode(): SandboxMode {
  const v = process.env.SANDBOX;
  if (v === 'none') return 'none';
  if (!(v === undefined || v === '' || v === 'bubblewrap' || v === 'bwrap')) {
    throw new Error(`SANDBOX='${v}' is not a sandbox mode; use 'bubblewrap' (default) or 'none' (unsafe opt-in)`);
  }
  const { degraded } = protectionStatus();
  return degraded.length ? `bubblewrap-degraded(${degraded.map((m) => `no-${m.name}`).join(',')})` : 'bubblewrap';
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Fixed system directories only: the worker's PATH is not trusted to pick the sandbox binary. */
function findExecutable(name: string): string | null {
  for (const d of ['/usr/bin', '/usr/local/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  return null;
}

let checkCache: { at: number; result: SandboxCheck } | undefined;
const CHECK_FAILURE_TTL_MS = 10_000;

/**
 * Whether bubblewrap can create the sandbox on this host. Probes once with the real invocation; a success
 * is cached for the life of the process, a failure for 10 s (so fixing the host does not need a restart).
 */
export async function checkSandbox(): Promise<SandboxCheck> {
  if (sandboxMode() === 'none') return { ok: true };
  // Missing protections first (cheap, and never cached: setting the opt-out needs no restart).
  const { refused } = protectionStatus();
  if (refused.length) {
    const names = refused.map((m) => m.name).join(',');
    return {
      ok: false,
      reason: `a sandbox protection is missing: ${refused.map((m) => m.reason).join('; ')}`,
      fix:
        `${refused.map((m) => m.fix).join('; ')}; or accept running with less isolation: SANDBOX_ALLOW_DEGRADED=${names} ` +
        `(every session then shows sandbox mode 'bubblewrap-degraded(${refused.map((m) => `no-${m.name}`).join(',')})')`,
    };
  }
  if (checkCache && (checkCache.result.ok || performance.now() - checkCache.at < CHECK_FAILURE_TTL_MS)) {
    return checkCache.result;
  }
  const result = await probeSandbox();
  checkCache = { at: performance.now(), result };
  return result;
}

async function probeSandbox(): Promise<SandboxCheck> {
  const fixInstall =
    'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), ' +
    'or set SANDBOX=none to run tools unsandboxed (unsafe, development only)';
  if (!paths().bwrap) return { ok: false, reason: 'bubblewrap (bwrap) is not installed', fix: fixInstall };
  if ((isRoot && !paths().setpriv) || (!paths().prlimit && !paths().dash)) {
    return { ok: false, reason: 'setpriv/prlimit (util-linux) are missing; they drop root and set rlimits before bwrap', fix: 'apt-get install util-linux' };
  }
  let cl: CommandLine;
  try {
    cl = commandLine({ argv: ['/bin/true'], env: {}, workspace: null, limits: DEFAULT_LIMITS, cgroupProcs: [] });
  } catch (err) {
    return { ok: false, reason: `preparing the sandbox failed: ${(err as Error).message}`, fix: 'run the worker as root, or make /run writable' };
  }
  const out = await new Promise<{ code: number | null; started: boolean; stderr: string }>((resolve) => {
    const child = spawn(cl.argv[0], cl.argv.slice(1), { cwd: '/', env: WRAPPER_ENV, stdio: guardStdio(['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe']) });
    feedBwrap(child, cl);
    (child.stdio as unknown as Readable[])[FD_CMD_STDERR].resume();
    const channel = new SetupChannel();
    child.stderr?.on('data', (d: Buffer) => channel.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, started: false, stderr: String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, started: channel.started, stderr: channel.started ? '' : channel.diagnostic() });
    });
  });
  // Usable only if the trampoline announced itself on the setup channel and /bin/true then succeeded.
  if (out.started && out.code === 0) return { ok: true };
  return {
    ok: false,
    reason: `bubblewrap cannot create the sandbox namespaces (${out.stderr.trim() || `exit ${out.code}`})`,
    fix:
      'allow unprivileged user namespaces: sysctl -w user.max_user_namespaces=15000 ' +
      '(Debian: kernel.unprivileged_userns_clone=1; Ubuntu 24.04+: kernel.apparmor_restrict_unprivileged_userns=0); ' +
      'inside Docker run with --security-opt seccomp=unconfined --security-opt apparmor=unconfined; ' +
      'or set SANDBOX=none to run tools unsandboxed (unsafe, development only)',
  };
}

// ---------------------------------------------------------------------------------------------------
// Host layout (computed once)

interface HostPaths {
  bwrap: string | null;
  setpriv: string | null;
  prlimit: string | null;
  /** dash, for rlimits as shell builtins (see wrapperArgs); null means use prlimit. */
  dash: string | null;
  /** Top-level entries that are symlinks into /usr on merged-/usr systems (else bound read-only). */
  rootLinks: Array<{ name: string; target: string }>;
  rootDirs: string[];
}

let hostPaths: HostPaths | undefined;

/**
 * What the sandbox's /etc holds: the dynamic linker cache, the /usr/bin -> /etc/alternatives symlink
 * targets, the timezone and the CA certificates, plus stub passwd/group/hosts. Nothing with credentials
 * or host identity (shadow, npmrc, pip.conf, ssh, machine-id, resolv.conf).
 */
const ETC_COPY = ['ld.so.cache', 'alternatives', 'localtime', 'ssl/certs'];

function paths(): HostPaths {
  if (hostPaths) return hostPaths;
  const rootLinks: HostPaths['rootLinks'] = [];
  const rootDirs: string[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    try {
      const st = fs.lstatSync(`/${name}`);
      if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(`/${name}`);
        // Only symlinks into /usr are recreated; anything else is not needed and not exposed.
        if (/^(\/?usr\/)[\w.-]+$/.test(target)) rootLinks.push({ name, target });
      } else if (st.isDirectory()) {
        rootDirs.push(`/${name}`);
      }
    } catch {
      // not present on this host
    }
  }
  // AGENT_SANDBOX_BWRAP points at a bwrap elsewhere (or a broken one, to test the failure path).
  const bwrapOverride = process.env.AGENT_SANDBOX_BWRAP;
  hostPaths = {
    bwrap: bwrapOverride ? (isExecutable(bwrapOverride) ? bwrapOverride : null) : findExecutable('bwrap'),
    setpriv: findExecutable('setpriv'),
    prlimit: findExecutable('prlimit'),
    dash: findExecutable('dash'),
    rootLinks,
    rootDirs,
  };
  return hostPaths;
}

// Stub identity files: tools such as `id`, `whoami`, python's getpass and ssh want a passwd entry.
const PASSWD = `root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:${SANDBOX_UID}:${SANDBOX_GID}:sandbox:/workspace:/bin/bash\n`;
const GROUP = `root:x:0:\nsandbox:x:${SANDBOX_GID}:\n`;
const HOSTS = '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost\n';
/** Extra fds of the wrapper: the seccomp program (--seccomp) and bwrap's options (--args). */
const FD_SECCOMP = 3;
const FD_ARGS = 4;
const ETC_LAYOUT_VERSION = '1';

let etcDir: string | undefined;

/**
 * The sandbox's /etc, prepared once as a real directory and bound read-only with a single mount: one
 * bind costs far less per run than a bind per entry plus generated files (~2 ms less on a loaded host).
 * The name is a hash of the sources' metadata, so a package update (new ld.so.cache, alternatives,
 * certificates) yields a new directory at the next worker start, and concurrent workers share it.
 * Root-owned under /run (not world-writable /tmp, where another user could pre-plant the path).
 */
function sandboxEtc(): string {
  if (etcDir && fs.existsSync(etcDir)) return etcDir;
  const hash = createHash('sha256').update(`${ETC_LAYOUT_VERSION}\n${PASSWD}${GROUP}${HOSTS}`);
  // Directory mtimes change when entries are added or removed (update-alternatives, update-ca-certificates).
  for (const p of [...ETC_COPY.map((e) => `/etc/${e}`), '/etc/ssl/certs/ca-certificates.crt']) {
    try {
      const st = fs.statSync(p);
      hash.update(`${p} ${st.ino} ${st.size} ${st.mtimeMs}\n`);
    } catch {
      hash.update(`${p} -\n`);
    }
  }
  const base = etcBase();
  const final = path.join(base, `etc-${hash.digest('hex').slice(0, 16)}`);
  if (!fs.existsSync(final)) {
    const tmp = fs.mkdtempSync(path.join(base, 'building-'));
    for (const e of ETC_COPY) {
      const src = `/etc/${e}`;
      if (!fs.existsSync(src)) continue;
      fs.mkdirSync(path.dirname(path.join(tmp, e)), { recursive: true });
      // Symlinks are copied as symlinks: inside the sandbox they resolve against its own /usr.
      fs.cpSync(src, path.join(tmp, e), { recursive: true, verbatimSymlinks: true, dereference: false });
    }
    fs.writeFileSync(path.join(tmp, 'passwd'), PASSWD, { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, 'group'), GROUP, { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, 'hosts'), HOSTS, { mode: 0o644 });
    fs.chmodSync(tmp, 0o755);
    try {
      fs.renameSync(tmp, final);
    } catch {
      // Another worker won the race: use its copy.
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  etcDir = final;
  return final;
}

/** /run/agent-sandbox when we can own it; otherwise a private temp dir for this process. */
function etcBase(): string {
  const run = '/run/agent-sandbox';
  if (isRoot) {
    try {
      fs.mkdirSync(run, { mode: 0o755 });
    } catch {
      // exists (checked below) or /run not writable
    }
    try {
      const st = fs.lstatSync(run);
      if (st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0) return run;
    } catch {
      // fall through
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sandbox-etc-'));
  fs.chmodSync(dir, 0o755);
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The wrapper and bwrap see only this environment; the worker's env (secrets!) never reaches them. */
const WRAPPER_ENV: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

function sandboxEnv(extra: Record<string, string>, home: string): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
    USER: 'sandbox',
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------
// Inherited file descriptors

type StdioSlot = 'pipe' | 'ignore' | number;

let leaked: number[] | undefined;
let devNull: number | undefined;

/**
 * Descriptors this process inherited without O_CLOEXEC (from whatever started the worker). libuv does
 * not close them in children, and a descriptor passes straight through every namespace: an inherited
 * socket or directory fd would be a hole in the sandbox. Read once from /proc/self/fdinfo (descriptors
 * the worker opens itself are close-on-exec: libuv, Rust and SQLite all set it).
 */
function leakedFds(): number[] {
  if (leaked) return leaked;
  const out: number[] = [];
  try {
    for (const name of fs.readdirSync('/proc/self/fd')) {
      const fd = Number(name);
      if (!(fd > 2)) continue;
      try {
        const flags = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
        if (flags && (parseInt(flags[1], 8) & 0o2000000) === 0) out.push(fd);
      } catch {
        // the readdir's own fd, already closed
      }
    }
  } catch {
    // no /proc: nothing we can do here; bwrap still gets only what it is given explicitly
  }
  leaked = out;
  return out;
}

/** The child's stdio with every leaked descriptor number overwritten by /dev/null. */
function guardStdio(stdio: StdioSlot[]): StdioSlot[] {
  const fds = leakedFds().filter((fd) => fd >= stdio.length || stdio[fd] === 'ignore');
  if (fds.length === 0) return stdio;
  devNull ??= fs.openSync('/dev/null', 'r');
  const out = [...stdio];
  for (const fd of fds) {
    while (out.length <= fd) out.push('ignore');
    out[fd] = devNull;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Command line

/**
 * The wrapper: join each cgroup given as a leading argument, set the rlimits, exec the rest. `$$` is the
 * wrapper's pid, which becomes setpriv's and finally bwrap's (exec keeps the pid).
 *
 * With dash (Debian/Ubuntu's /bin/sh) the rlimits are `ulimit` builtins in the same process; elsewhere
 * (a bash /bin/sh spells the flags differently) a separate `prlimit` step sets them. The builtin saves an
 * exec: ~1 ms of CPU per run, measured.
 */
const JOIN_CGROUPS = [
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do',
  '  echo $$ > "$1" || { echo "agent-sandbox-setup: cannot join cgroup $1" >&2; exit 125; }',
  '  shift; n=$((n-1))',
  'done',
].join('\n');

interface RlimitPlan {
  /** RLIMIT_NPROC, or null to leave it alone (non-root worker: it would count the worker's own processes). */
  nproc: number | null;
  /** RLIMIT_DATA, only when no memory cgroup is available. */
  dataBytes: number | null;
}

const limitInt = (x: number): string => {
  if (!Number.isSafeInteger(x) || x < 0) throw new Error(`invalid limit ${x}`);
  return String(x);
};

/** dash `ulimit` builtins: -f and -c count 512-byte blocks, -d KiB, -p is RLIMIT_NPROC. */
function ulimitLine(limits: SandboxLimits, plan: RlimitPlan): string {
  const cmds = [
    'ulimit -c 0',
    // Soft before hard: lowering the hard limit below a still-unlimited soft limit is EINVAL. The soft
    // limit sends SIGXCPU (reported as killedReason 'cpu'); the hard one a second later is SIGKILL.
    `ulimit -S -t ${limitInt(limits.cpuSeconds)}`,
    `ulimit -H -t ${limitInt(limits.cpuSeconds + 1)}`,
    `ulimit -f ${limitInt(Math.max(1, Math.floor(limits.fileSizeBytes / 512)))}`,
    `ulimit -n ${limitInt(limits.openFiles)}`,
  ];
  if (plan.nproc !== null) cmds.push(`ulimit -p ${limitInt(plan.nproc)}`);
  if (plan.dataBytes !== null) cmds.push(`ulimit -d ${limitInt(Math.floor(plan.dataBytes / 1024))}`);
  return `${cmds.join(' && ')} || { echo "agent-sandbox-setup: cannot set resource limits" >&2; exit 125; }`;
}

/** prlimit (util-linux): exact byte units, for hosts whose /bin/sh is not dash. */
function prlimitArgs(limits: SandboxLimits, plan: RlimitPlan): string[] {
  const args = [
    paths().prlimit ?? 'prlimit',
    '--core=0',
    `--cpu=${limitInt(limits.cpuSeconds)}:${limitInt(limits.cpuSeconds + 1)}`,
    `--fsize=${limitInt(limits.fileSizeBytes)}`,
    `--nofile=${limitInt(limits.openFiles)}`,
  ];
  if (plan.nproc !== null) args.push(`--nproc=${limitInt(plan.nproc)}`);
  if (plan.dataBytes !== null) args.push(`--data=${limitInt(plan.dataBytes)}`);
  args.push('--');
  return args;
}

/**
 * Everything before setpriv/bwrap (or before the command in 'none' mode). `last` is 'exec' when bwrap
 * follows (the trampoline then runs inside the sandbox), 'trampoline' when the command follows directly
 * ('none' mode): the wrapper itself then ends the setup channel (see setup-channel.ts).
 */
function wrapperArgs(cgroupProcs: string[], limits: SandboxLimits, plan: RlimitPlan, last: 'exec' | 'trampoline'): string[] {
  const tail = ['agent-sandbox-wrap', String(cgroupProcs.length), ...cgroupProcs];
  const end = last === 'exec' ? 'exec "$@"' : TRAMPOLINE;
  const dash = paths().dash;
  if (dash) return [dash, '-c', `${JOIN_CGROUPS}\n${ulimitLine(limits, plan)}\n${end}`, ...tail];
  return ['/bin/sh', '-c', `${JOIN_CGROUPS}\n${end}`, ...tail, ...prlimitArgs(limits, plan)];
}

interface CommandLineOptions {
  argv: string[];
  env: Record<string, string>;
  /** Host workspace; null only for the availability probe. */
  workspace: string | null;
  limits: SandboxLimits;
  /** cgroup.procs files the wrapper joins before exec (see wrapperArgs). */
  cgroupProcs: string[];
  memoryCgroup?: boolean;
  pidsCgroup?: boolean;
}

interface CommandLine {
  /** What is spawned: wrapper (dash, or sh + prlimit) -> setpriv -> bwrap --args FD_ARGS -- command. */
  argv: string[];
  /** bwrap's options, NUL-separated, read from FD_ARGS. */
  bwrapOptions: string[];
}

function commandLine(o: CommandLineOptions): CommandLine {
  const hp = paths();
  if (!hp.bwrap) throw new SandboxUnavailableError('bubblewrap (bwrap) is not installed', 'apt-get install bubblewrap');
  // RLIMIT_NPROC counts every process of the sandbox uid on the host: one number shared by every
  // concurrent run of every session, so a session's parallel runs could use it up for all others. With a
  // pids cgroup per run (the real, per-run limit) it is therefore not set at all. Only in the explicit
  // degraded mode without cgroups (SANDBOX_ALLOW_DEGRADED=cgroups) is it the (shared) limit.
  const nproc = isRoot && !o.pidsCgroup ? o.limits.maxProcesses : null;
  // RLIMIT_DATA only as the fallback: it is per process and counts reservations, cgroups count real use.
  const dataBytes = o.memoryCgroup ? null : o.limits.memoryBytes;
  // The wrapper joins the cgroups before anything else runs. (Tried: letting bwrap set up outside them
  // and moving its pid in via --info-fd/--block-fd. Slower by ~6 ms p50 on a busy host, because the
  // move then waits on extra event-loop and thread-pool round trips; a v1 cgroup move costs an RCU
  // grace period either way.)
  const wrapper = wrapperArgs(o.cgroupProcs, o.limits, { nproc, dataBytes }, 'exec');

  const drop = isRoot
    ? [hp.setpriv ?? 'setpriv', `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_GID}`, '--clear-groups', '--no-new-privs', '--bounding-set=-all', '--']
    : [];

  const b: string[] = [];
  b.push('--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--cap-drop', 'ALL');
  b.push('--hostname', 'sandbox', '--clearenv');
  for (const [k, v] of Object.entries(sandboxEnv(o.env, '/workspace'))) b.push('--setenv', k, v);
  b.push('--ro-bind', '/usr', '/usr');
  for (const l of hp.rootLinks) b.push('--symlink', l.target, `/${l.name}`);
  for (const d of hp.rootDirs) b.push('--ro-bind', d, d);
  b.push('--ro-bind', sandboxEtc(), '/etc');
  b.push('--proc', '/proc', '--dev', '/dev');
  b.push('--size', String(o.limits.tmpBytes), '--tmpfs', '/dev/shm');
  b.push('--size', String(o.limits.tmpBytes), '--tmpfs', '/tmp');
  if (o.workspace) b.push('--bind', o.workspace, '/workspace');
  else b.push('--dir', '/workspace');
  if (seccompProgram()) b.push('--seccomp', String(FD_SECCOMP));
  // The root and /dev are tmpfs owned by the sandbox uid: read-only so they cannot be used as unbounded
  // scratch space outside the size-capped /tmp.
  b.push('--remount-ro', '/dev', '--remount-ro', '/');
  b.push('--chdir', '/workspace');
  // Options travel through a pipe, not argv: /proc/<pid>/cmdline is world-readable on the host, and the
  // environment (which may carry a tool's declared secrets) must not show up in `ps`.
  // The command starts through the trampoline, which closes the setup channel for it (setup-channel.ts).
  const trampoline = ['/bin/sh', '-c', TRAMPOLINE, 'agent-sandbox'];
  return { argv: [...wrapper, ...drop, hp.bwrap, '--args', String(FD_ARGS), '--', ...trampoline, ...o.argv], bwrapOptions: b };
}

/** Writes bwrap's options and the seccomp program into their pipes (fds FD_SECCOMP and FD_ARGS). */
function feedBwrap(child: ChildProcess, cl: CommandLine): void {
  const feed = (fd: number, data: Buffer | null): void => {
    const s = child.stdio[fd] as Writable | null | undefined;
    if (!s) return;
    // bwrap may die before reading (setup error): the EPIPE is reported through its exit status instead.
    s.on('error', () => undefined);
    s.end(data ?? undefined);
  };
  feed(FD_SECCOMP, seccompProgram());
  feed(FD_ARGS, Buffer.from(cl.bwrapOptions.map((a) => `${a}\0`).join('')));
}

// ---------------------------------------------------------------------------------------------------
// Workspace

/**
 * Creates the workspace if needed and hands it to the sandbox uid. Refuses a symlink or non-directory.
 * Only a folder this call created is chowned/chmodded: an existing folder that the sandbox uid does not
 * own is refused, never "repaired" (it may be anything a wrong path points at, e.g. the data dir).
 */
export function prepareWorkspace(dir: string): string {
  const abs = path.resolve(dir);
  const created = fs.mkdirSync(abs, { recursive: true, mode: 0o700 }) !== undefined;
  const st = fs.lstatSync(abs);
  if (!st.isDirectory()) throw new Error(`workspace ${abs} is not a directory (symlinks are refused)`);
  if (isRoot && sandboxMode() !== 'none' && (st.uid !== SANDBOX_UID || st.gid !== SANDBOX_GID)) {
    if (!created) {
      throw new Error(`workspace ${abs} exists but is owned by ${st.uid}:${st.gid}, not the sandbox uid ${SANDBOX_UID}: the runtime only hands folders it created to the sandbox; remove it or use another workspace`);
    }
    fs.lchownSync(abs, SANDBOX_UID, SANDBOX_GID);
  }
  // Only its owner (the sandbox uid) needs it; other host users have no business reading a session's files.
  if (created && (st.mode & 0o777) !== 0o700) fs.chmodSync(abs, 0o700);
  return abs;
}

// ---------------------------------------------------------------------------------------------------
// Output capture

class Capture {
  private readonly chunks: Buffer[] = [];
  captured = 0;
  total = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.limit - this.captured;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.captured += part.length;
  }
  finish(name: 'stdout' | 'stderr', floodKilled: boolean): { text: string; truncated: boolean; binary: boolean } {
    let buf = Buffer.concat(this.chunks);
    const truncated = this.total > this.captured;
    if (truncated) buf = buf.subarray(0, utf8Boundary(buf));
    let text: string;
    let binary = false;
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
    } catch {
      binary = true;
      text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(buf);
    }
    if (truncated) {
      const total = floodKilled ? `at least ${this.total} bytes, command killed as an output flood` : `${this.total} bytes total`;
      text += `\n${TRUNCATION_MARKER}: ${name} shows the first ${buf.length} bytes; ${total}]`;
    }
    return { text, truncated, binary };
  }
}

/** Length of `buf` without a trailing incomplete UTF-8 sequence (so a cut does not look like binary). */
function utf8Boundary(buf: Buffer): number {
  for (let back = 1; back <= Math.min(4, buf.length); back++) {
    const b = buf[buf.length - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead byte
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

// ---------------------------------------------------------------------------------------------------
// Run

/** Runs `argv` in a fresh sandbox with the workspace at /workspace. Never throws for a failing command. */
export async function runSandboxed(input: SandboxRequest): Promise<SandboxResult> {
  const parsed = RequestSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid sandbox request: ${z.prettifyError(parsed.error)}`);
  const req = parsed.data;
  const network = req.network;
  if (network !== 'none' && network.mode !== 'none') {
    throw new Error(`sandbox network mode '${network.mode}' is not supported yet; only 'none' is`);
  }
  const env = req.env ?? {};
  const argvBytes = [...req.argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].reduce((s, a) => s + Buffer.byteLength(a) + 1, 0);
  if (argvBytes > MAX_ARGV_TOTAL_BYTES) {
    throw new Error(`sandbox argv and env are ${argvBytes} bytes; the limit is ${MAX_ARGV_TOTAL_BYTES} (pass large data via stdin or a file)`);
  }
  const limits = resolveLimits(req.limits);
  const mode = sandboxMode();
  if (mode !== 'none') {
    const check = await checkSandbox();
    if (!check.ok) throw new SandboxUnavailableError(check.reason, check.fix);
  }
  const started = performance.now();
  if (req.signal?.aborted) return emptyResult(mode, 'cancelled', started);

  const workspace = prepareWorkspace(req.workspaceDir);
  // The workspace is its own size-limited filesystem (quota.ts); a workspace over this run's limit
  // (left so by an earlier run with a larger limit, or a write) is refused before anything starts.
  if (quotaAvailable().ok) {
    await ensureWorkspaceFs(workspace, limits.workspaceBytes);
    assertUnderQuota(workspace, limits.workspaceBytes);
  }
  if (!swept) {
    swept = true;
    sweepStaleCgroups();
  }
  const cg = createRunCgroups(limits);
  try {
    return await execute({ req, env, limits, mode, workspace, cg, started });
  } finally {
    // Removing the cgroup has to wait until the kernel has released the exited tasks (a few ms after
    // the pid namespace is gone); the caller does not need to wait for that. sandboxIdle() does.
    const done = destroyRunCgroups(cg).finally(() => pendingCleanups.delete(done));
    pendingCleanups.add(done);
  }
}

const pendingCleanups = new Set<Promise<void>>();
let swept = false;

/** Resolves when every finished run has removed its cgroups (for tests and graceful shutdown). */
export async function sandboxIdle(): Promise<void> {
  while (pendingCleanups.size) await Promise.all([...pendingCleanups]);
}

function emptyResult(mode: SandboxMode, reason: SandboxKillReason, started: number): SandboxResult {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: { stdout: false, stderr: false },
    binary: { stdout: false, stderr: false },
    timedOut: false,
    killedReason: reason,
    durationMs: performance.now() - started,
    mode,
  };
}

interface ExecuteArgs {
  req: z.infer<typeof RequestSchema>;
  env: Record<string, string>;
  limits: SandboxLimits;
  mode: SandboxMode;
  workspace: string;
  cg: RunCgroups;
  started: number;
}

function execute({ req, env, limits, mode, workspace, cg, started }: ExecuteArgs): Promise<SandboxResult> {
  const cgroupProcs = cg.procs;
  let argv: string[];
  let cl: CommandLine | null = null;
  let spawnEnv: NodeJS.ProcessEnv;
  let cwd: string;
  const stdinMode = req.stdin === undefined ? 'ignore' : 'pipe';
  let stdio: StdioSlot[];
  if (mode !== 'none') {
    cl = commandLine({ argv: req.argv, env, workspace, limits, cgroupProcs, memoryCgroup: !!cg.dirs.memory, pidsCgroup: !!cg.dirs.pids });
    argv = cl.argv;
    spawnEnv = WRAPPER_ENV;
    cwd = '/';
    stdio = [stdinMode, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'];
  } else {
    argv = [...wrapperArgs(cgroupProcs, limits, { nproc: null, dataBytes: cg.dirs.memory ? null : limits.memoryBytes }, 'trampoline'), ...req.argv];
    spawnEnv = { ...sandboxEnv(env, workspace), PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    cwd = workspace;
    stdio = [stdinMode, 'pipe', 'pipe', 'ignore', 'ignore', 'pipe'];
  }

  return new Promise<SandboxResult>((resolve, reject) => {
    // detached: own process group, so a timeout can kill the wrapper chain as a group.
    const child = spawn(argv[0], argv.slice(1), { cwd, env: spawnEnv, stdio: guardStdio(stdio), detached: true });
    if (cl) feedBwrap(child, cl);
    const out = new Capture(limits.outputBytes);
    const err = new Capture(limits.outputBytes);
    let killedReason: SandboxKillReason | null = null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;

    const kill = (reason: SandboxKillReason): void => {
      if (killedReason || exit) return;
      killedReason = reason;
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      killCgroup(cg);
    };

    const onData = (cap: Capture) => (chunk: Buffer) => {
      cap.push(chunk);
      if (out.total + err.total > limits.outputKillBytes) kill('output');
    };
    (child.stdout as Readable).on('data', onData(out));
    // fd 2 of the chain is the setup channel; the command's stderr arrives on FD_CMD_STDERR.
    const channel = new SetupChannel();
    (child.stderr as Readable).on('data', (d: Buffer) => channel.push(d));
    const cmdStderr = (child.stdio as unknown as Readable[])[FD_CMD_STDERR];
    cmdStderr.on('data', onData(err));

    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the command may exit without reading its input
      child.stdin.end(req.stdin === undefined ? undefined : Buffer.from(req.stdin));
    }

    const timer = setTimeout(() => kill('timeout'), limits.timeoutMs);
    const onAbort = (): void => kill('cancelled');
    req.signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted while the run was being set up: 'abort' has already fired and will not fire again.
    if (req.signal?.aborted) kill('cancelled');

    // The workspace filesystem is the hard wall (a little above the limit: ext4 metadata); this stops a
    // run that passes the limit itself. One statfs() per poll: no walk of the sandbox's tree. Runs
    // shorter than the poll are measured at the end (below) and the next run is refused while over.
    const overDisk = (): boolean => (workspaceUsage(workspace)?.usedBytes ?? 0) > limits.workspaceBytes;
    let stopped = false;
    const diskTimer: NodeJS.Timeout = setInterval(() => {
      if (!stopped && overDisk()) kill('disk');
    }, 100);

    // A process that escaped into the background but still holds the pipes must not hang the run:
    // once the main process is gone, give the streams a moment, then kill the cgroup and close them.
    let lingerTimer: NodeJS.Timeout | undefined;
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      lingerTimer = setTimeout(() => {
        killCgroup(cg);
        child.stdout?.destroy();
        child.stderr?.destroy();
        cmdStderr.destroy();
      }, 2000);
    });

    const cleanup = (): void => {
      clearTimeout(timer);
      stopped = true;
      clearInterval(diskTimer);
      if (lingerTimer) clearTimeout(lingerTimer);
      req.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(e);
    });

    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      cleanup();
      const status = exit ?? { code, signal };
      const o = out.finish('stdout', killedReason === 'output');
      const e = err.finish('stderr', killedReason === 'output');
      // Decided by the setup channel alone (never by the exit code or the command's output): the
      // command was never started and we did not kill the run ourselves.
      if (!channel.started && !killedReason) {
        reject(setupError(channel.diagnostic(), status));
        return;
      }
      let reason: SandboxKillReason | null = killedReason;
      if (!reason && oomKills(cg) > 0) reason = 'memory';
      if (!reason && overDisk()) reason = 'disk';
      if (!reason && (status.code === 128 + 24 || status.signal === 'SIGXCPU')) reason = 'cpu';
      resolve({
        exitCode: status.code,
        signal: status.signal,
        stdout: o.text,
        stderr: e.text,
        truncated: { stdout: o.truncated, stderr: e.truncated },
        binary: { stdout: o.binary, stderr: e.binary },
        timedOut: killedReason === 'timeout',
        killedReason: reason,
        durationMs: performance.now() - started,
        mode,
      });
    });
  });
}

/** The error for a run whose command never started; `diagnostic` comes from the setup channel only. */
function setupError(diagnostic: string, status: { code: number | null; signal: NodeJS.Signals | null }): SandboxUnavailableError {
  const said = diagnostic || `the setup chain exited with ${status.signal ?? `code ${status.code}`} and no message`;
  if (diagnostic.startsWith('agent-sandbox-setup:')) {
    return new SandboxUnavailableError(said, 'check that the cgroup hierarchy under /sys/fs/cgroup is writable by the worker');
  }
  if (/Can't find source path/.test(diagnostic)) {
    return new SandboxUnavailableError(`bubblewrap failed to set up the sandbox: ${said}`, `make every parent directory of the workspace traversable (o+x) for uid ${SANDBOX_UID}`);
  }
  return new SandboxUnavailableError(`bubblewrap failed to set up the sandbox: ${said}`, 'run checkSandbox() for a diagnosis; unprivileged user namespaces must be allowed');
}

/**
 * For diagnostics: the equivalent command line of a run (without cgroups), with bwrap's options inlined
 * (runs pass them through a pipe) and the seccomp filter left out, so it can be pasted into a shell.
 */
export function sandboxCommandLine(argv: string[], workspaceDir: string, limits?: Partial<SandboxLimits>): string[] {
  const cl = commandLine({ argv, env: {}, workspace: workspaceDir, limits: resolveLimits(limits), cgroupProcs: [] });
  const opts = cl.bwrapOptions.filter((a, i, all) => a !== '--seccomp' && all[i - 1] !== '--seccomp');
  const at = cl.argv.indexOf('--args');
  // Without the trampoline: a pasted command line has no setup channel to announce itself on.
  return [...cl.argv.slice(0, at), ...opts, '--', ...argv];
}

/** Exposed for tests only. */
export const _internal = {
  utf8Boundary,
  cgroupBases,
  cgroupBackend,
  /** Run with another cgroup backend (e.g. v2 on a test mount); null returns to detection. */
  useCgroupBackend,
  /** Switch between the dash-builtin and the prlimit way of setting rlimits (both must work). */
  useRlimitTool(tool: 'dash' | 'prlimit'): void {
    paths().dash = tool === 'dash' ? findExecutable('dash') : null;
  },
  /** Pretend a controller is not writable (to exercise the rlimit fallbacks); `null` restores detection. */
  hideControllers: resetCgroupDetection,
};
