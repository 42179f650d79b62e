/**
 * Per-run cgroups (v1): memory and pids limits for the whole process tree of one run (and optionally CPU
 * bandwidth), a reliable way to find and kill everything the run started, and cleanup of cgroups left
 * behind by workers that died. Nested under the worker's own cgroup, so any limit on the worker applies
 * to its sandboxes as well. Without writable controllers, runs fall back to rlimits only.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SandboxLimits } from './sandbox';

export type Controller = 'memory' | 'pids' | 'cpu';
const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP_PARENT = 'agent-sandbox';

let controllerBases: Partial<Record<Controller, string>> | undefined;

/** Parent directory per controller (nested under this process's own cgroup), or absent when not writable. */
export function cgroupBases(): Partial<Record<Controller, string>> {
  if (controllerBases) return controllerBases;
  const bases: Partial<Record<Controller, string>> = {};
  let own: string[] = [];
  try {
    own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    // no cgroup info: rlimits only
  }
  for (const c of ['memory', 'pids', 'cpu'] as const) {
    const line = own.find((l) => l.split(':')[1]?.split(',').includes(c));
    const rel = line ? line.split(':').slice(2).join(':') : null;
    const mount = path.join(CGROUP_ROOT, c);
    if (rel === null || !fs.existsSync(path.join(mount, 'cgroup.procs'))) continue;
    const base = path.join(mount, rel, CGROUP_PARENT);
    try {
      fs.mkdirSync(base, { recursive: true });
      bases[c] = base;
    } catch {
      // read-only or delegated elsewhere: fall back to rlimits for this controller
    }
  }
  controllerBases = bases;
  return bases;
}

export interface RunCgroups {
  name: string;
  dirs: Partial<Record<Controller, string>>;
}

const activeCgroups = new Set<RunCgroups>();
let runSeq = 0;

function writeCg(dir: string, file: string, value: string): boolean {
  try {
    fs.writeFileSync(path.join(dir, file), value);
    return true;
  } catch {
    return false;
  }
}

export function createRunCgroups(limits: Pick<SandboxLimits, 'memoryBytes' | 'maxProcesses' | 'cpus'>): RunCgroups {
  const name = `run-${process.pid}-${++runSeq}-${randomBytes(3).toString('hex')}`;
  const cg: RunCgroups = { name, dirs: {} };
  const bases = cgroupBases();
  for (const [c, base] of Object.entries(bases) as Array<[Controller, string]>) {
    if (c === 'cpu' && !limits.cpus) continue;
    const dir = path.join(base, name);
    try {
      // recursive: recreates the parent if someone removed it while it was empty.
      fs.mkdirSync(dir, { recursive: true });
    } catch {
      continue;
    }
    let ok = true;
    if (c === 'memory') {
      ok = writeCg(dir, 'memory.limit_in_bytes', String(limits.memoryBytes));
      // No swap escape hatch; absent when swap accounting is off, which is fine.
      writeCg(dir, 'memory.memsw.limit_in_bytes', String(limits.memoryBytes));
    } else if (c === 'pids') {
      ok = writeCg(dir, 'pids.max', String(limits.maxProcesses));
    } else if (c === 'cpu') {
      ok = writeCg(dir, 'cpu.cfs_period_us', '100000') && writeCg(dir, 'cpu.cfs_quota_us', String(Math.max(1000, Math.round(limits.cpus * 100_000))));
    }
    if (ok) cg.dirs[c] = dir;
    else rmdirQuiet(dir);
  }
  activeCgroups.add(cg);
  return cg;
}

function rmdirQuiet(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function cgroupPids(dir: string): number[] {
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

/** SIGKILL every process in the run's cgroups (a fork bomb may race, so callers loop). Returns how many were seen. */
export function killCgroup(cg: RunCgroups): number {
  let seen = 0;
  for (const dir of Object.values(cg.dirs)) {
    for (const pid of cgroupPids(dir)) {
      seen++;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  return seen;
}

export function oomKills(cg: RunCgroups): number {
  if (!cg.dirs.memory) return 0;
  try {
    const m = /oom_kill (\d+)/.exec(fs.readFileSync(path.join(cg.dirs.memory, 'memory.oom_control'), 'utf8'));
    if (m) return Number(m[1]);
    return Number(fs.readFileSync(path.join(cg.dirs.memory, 'memory.failcnt'), 'utf8')) > 0 ? 1 : 0;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rmdirAsync(dir: string): Promise<boolean> {
  try {
    await fs.promises.rmdir(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Kills whatever is left in the run's cgroups and removes them. Runs in the background after a run:
 * the kernel releases exited tasks (and offlines a memory cgroup) a few ms after the pid namespace is
 * gone, and rmdir of a memory cgroup costs ~1 ms, so it goes to the thread pool, off the event loop.
 */
export async function destroyRunCgroups(cg: RunCgroups): Promise<void> {
  for (let i = 0; i < 300 && Object.keys(cg.dirs).length > 0; i++) {
    await sleep(Math.min(50, 3 + 2 * i));
    killCgroup(cg);
    const left = await Promise.all(Object.entries(cg.dirs).map(async ([c, dir]) => ((await rmdirAsync(dir)) ? null : ([c, dir] as const))));
    cg.dirs = Object.fromEntries(left.filter((x) => x !== null));
  }
  if (Object.keys(cg.dirs).length === 0) activeCgroups.delete(cg);
}

/**
 * Removes cgroups left behind by workers that died (SIGKILL, OOM) before cleaning up: the name carries
 * the worker pid; a cgroup whose worker is gone has its processes killed and is removed.
 */
export function sweepStaleCgroups(): number {
  let removed = 0;
  for (const base of Object.values(cgroupBases())) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(base).filter((n) => n.startsWith('run-'));
    } catch {
      continue;
    }
    for (const name of names) {
      const pid = Number(/^run-(\d+)-/.exec(name)?.[1]);
      if (!pid || (pid !== process.pid && isAlive(pid))) continue;
      if (pid === process.pid && [...activeCgroups].some((c) => c.name === name)) continue;
      const dir = path.join(base, name);
      for (const p of cgroupPids(dir)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (rmdirQuiet(dir)) removed++;
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// If the worker exits normally while runs are in flight, do not leave their processes or cgroups behind.
process.once('exit', () => {
  for (const cg of activeCgroups) {
    killCgroup(cg);
    for (const dir of Object.values(cg.dirs)) rmdirQuiet(dir);
  }
});

/** Forget the detected controllers; `hidden` pretends they are not writable (tests of the rlimit fallbacks). */
export function resetCgroupDetection(hidden: Controller[] | null): void {
  controllerBases = undefined;
  if (hidden) for (const c of hidden) delete cgroupBases()[c];
}
