/** Types and helpers shared by the cgroup v1 and v2 backends (see cgroups.ts for the facade). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Controller = 'memory' | 'pids' | 'cpu';

/** Parent directory of the worker's run cgroups (nested under the worker's own cgroup). */
export const CGROUP_PARENT = 'agent-sandbox';

export interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
  cpus: number;
}

export interface RunCgroups {
  name: string;
  /** Directory per controller that limits this run (v2: the same directory for all). */
  dirs: Partial<Record<Controller, string>>;
  /** The cgroup.procs files the wrapper joins before exec (v1: one per hierarchy; v2: one). */
  procs: string[];
  /** Every directory to remove at the end (v1: one per hierarchy; v2: one). */
  all: string[];
  version: 1 | 2;
  /** The backend that made it (kill, OOM count and removal go back to it). */
  backend: CgroupBackend;
}

/**
 * One cgroup implementation. `bases` says which controllers are usable (and where); a controller that
 * is absent there is not limited by cgroups, which the caller must treat as a missing protection.
 */
export interface CgroupBackend {
  readonly version: 1 | 2;
  /** Where the backend lives, for messages. */
  readonly describe: string;
  bases(): Partial<Record<Controller, string>>;
  /** Why a controller is unusable (for the refusal message), when it is. */
  unavailableReason(c: Controller): string | null;
  create(name: string, limits: CgroupLimits): RunCgroups;
  /** SIGKILL everything in the run; returns how many processes were seen (0 when using cgroup.kill). */
  kill(cg: RunCgroups): number;
  oomKills(cg: RunCgroups): number;
  /** Directories of run cgroups present under the bases (for sweeping and tests). */
  runDirs(): string[];
}

export function writeCg(dir: string, file: string, value: string): boolean {
  try {
    // O_WRONLY without O_CREAT: only ever write existing control files (cgroup.kill is write-only).
    const fd = fs.openSync(path.join(dir, file), fs.constants.O_WRONLY);
    try {
      fs.writeSync(fd, value);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch {
    return false;
  }
}

export function cgroupPids(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * SIGKILLs every process of the run's cgroups; returns how many were seen. `atomic` (v2: cgroup.kill)
 * is tried first per cgroup, and the pid list is the fallback (v1, or kernels before 5.14).
 */
export function killCgroups(dirs: readonly string[], atomic?: (dir: string) => boolean): number {
  let seen = 0;
  for (const dir of dirs) {
    if (atomic?.(dir)) continue;
    const pids = cgroupPids(dir);
    seen += pids.length;
    killPids(pids);
  }
  return seen;
}

export function rmdirQuiet(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
