/**
 * Per-run cgroups: memory and pids limits for the whole process tree of one run (and optionally CPU
 * bandwidth), a reliable way to find and kill everything the run started, and cleanup of cgroups left
 * behind by workers that died. Nested under the worker's own cgroup, so any limit on the worker applies
 * to its sandboxes as well.
 *
 * Two backends (cgroup-v1.ts, cgroup-v2.ts), picked once at start: v2 when /sys/fs/cgroup is a cgroup2
 * mount (unified hierarchy), v1 otherwise (including hybrid hosts, where the controllers are bound to
 * v1). A controller the backend cannot use is a missing protection (protections.ts): runs are refused
 * unless the operator allowed the degraded mode.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { CgroupV1 } from './cgroup-v1';
import { CgroupV2 } from './cgroup-v2';
import { isAlive } from './pid-lock';
import { cgroupPids, killPids, rmdirQuiet, writeCg, type CgroupBackend, type CgroupLimits, type Controller, type RunCgroups } from './cgroup-common';

export type { Controller, RunCgroups, CgroupBackend } from './cgroup-common';

const CGROUP2_SUPER_MAGIC = 0x63677270;

let backend: CgroupBackend | undefined;

/** v2 when /sys/fs/cgroup is the unified hierarchy, else v1. */
export function detectCgroupBackend(root = '/sys/fs/cgroup'): CgroupBackend {
  try {
    if (fs.statfsSync(root).type === CGROUP2_SUPER_MAGIC) return new CgroupV2(root);
  } catch {
    // no /sys/fs/cgroup: v1 finds nothing and reports the controllers as unavailable
  }
  return new CgroupV1(root);
}

export function cgroupBackend(): CgroupBackend {
  // AGENT_SANDBOX_CGROUP_ROOT: where the cgroup hierarchy is mounted, if not at /sys/fs/cgroup.
  backend ??= detectCgroupBackend(process.env.AGENT_SANDBOX_CGROUP_ROOT || '/sys/fs/cgroup');
  return backend;
}

/** Tests: run with another backend (e.g. v2 on a test mount); null returns to detection. */
export function useCgroupBackend(b: CgroupBackend | null): void {
  backend = b ?? undefined;
}

/** Parent directory per usable controller (absent when not usable). */
export function cgroupBases(): Partial<Record<Controller, string>> {
  return cgroupBackend().bases();
}

const activeCgroups = new Set<RunCgroups>();
let runSeq = 0;

export function createRunCgroups(limits: CgroupLimits): RunCgroups {
  const name = `run-${process.pid}-${++runSeq}-${randomBytes(3).toString('hex')}`;
  const cg = cgroupBackend().create(name, limits);
  activeCgroups.add(cg);
  return cg;
}

/** SIGKILL every process in the run's cgroups (a fork bomb may race, so callers loop). */
export function killCgroup(cg: RunCgroups): number {
  return cg.backend.kill(cg);
}

export function oomKills(cg: RunCgroups): number {
  return cg.backend.oomKills(cg);
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
  for (let i = 0; i < 300 && cg.all.length > 0; i++) {
    await sleep(Math.min(50, 3 + 2 * i));
    killCgroup(cg);
    const left = await Promise.all(cg.all.map(async (dir) => ((await rmdirAsync(dir)) ? null : dir)));
    cg.all = left.filter((x): x is string => x !== null);
  }
  if (cg.all.length === 0) activeCgroups.delete(cg);
}

/**
 * Removes cgroups left behind by workers that died (SIGKILL, OOM) before cleaning up: the name carries
 * the worker pid; a cgroup whose worker is gone has its processes killed and is removed.
 */
export function sweepStaleCgroups(): number {
  let removed = 0;
  for (const dir of cgroupBackend().runDirs()) {
    const name = dir.slice(dir.lastIndexOf('/') + 1);
    const pid = Number(/^run-(\d+)-/.exec(name)?.[1]);
    if (!pid || (pid !== process.pid && isAlive(pid))) continue;
    if (pid === process.pid && [...activeCgroups].some((c) => c.name === name)) continue;
    // v2: cgroup.kill takes the tree at once; v1 (or old kernels): signal what is listed.
    if (!writeCg(dir, 'cgroup.kill', '1')) killPids(cgroupPids(dir));
    if (rmdirQuiet(dir)) removed++;
  }
  return removed;
}

// If the worker exits normally while runs are in flight, do not leave their processes or cgroups behind.
process.once('exit', () => {
  for (const cg of activeCgroups) {
    killCgroup(cg);
    for (const dir of cg.all) rmdirQuiet(dir);
  }
});

/** Forget the detected backend; `hidden` pretends those v1 controllers are not writable (tests of the rlimit fallbacks). */
export function resetCgroupDetection(hidden: Controller[] | null): void {
  backend = undefined;
  const b = cgroupBackend();
  if (hidden && b instanceof CgroupV1) b.hide(hidden);
}
