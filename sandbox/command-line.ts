/** The process chain of one run: wrapper (cgroups, rlimits) -> setpriv -> bwrap with its options through a pipe. */
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { seccompProgram } from './seccomp';
import { TRAMPOLINE } from './setup-channel';
import { FD_ARGS, FD_SECCOMP, isRoot, paths, sandboxEnv, sandboxEtc } from './host';
import { SANDBOX_GID, SANDBOX_UID, SandboxUnavailableError, type SandboxLimits } from './types';

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

export interface RlimitPlan {
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
export function wrapperArgs(cgroupProcs: string[], limits: SandboxLimits, plan: RlimitPlan, last: 'exec' | 'trampoline'): string[] {
  const tail = ['agent-sandbox-wrap', String(cgroupProcs.length), ...cgroupProcs];
  const end = last === 'exec' ? 'exec "$@"' : TRAMPOLINE;
  const dash = paths().dash;
  if (dash) return [dash, '-c', `${JOIN_CGROUPS}\n${ulimitLine(limits, plan)}\n${end}`, ...tail];
  return ['/bin/sh', '-c', `${JOIN_CGROUPS}\n${end}`, ...tail, ...prlimitArgs(limits, plan)];
}

export interface CommandLineOptions {
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

export interface CommandLine {
  /** What is spawned: wrapper (dash, or sh + prlimit) -> setpriv -> bwrap --args FD_ARGS -- command. */
  argv: string[];
  /** bwrap's options, NUL-separated, read from FD_ARGS. */
  bwrapOptions: string[];
}

export function commandLine(o: CommandLineOptions): CommandLine {
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
export function feedBwrap(child: ChildProcess, cl: CommandLine): void {
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
