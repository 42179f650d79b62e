/** Public types, errors and defaults of the sandbox runner (no runtime dependencies). */
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
