/**
 * cgroup v1 backend: one directory per controller hierarchy (memory, pids, cpu) under
 * /sys/fs/cgroup/<controller>/<worker's own cgroup>/agent-sandbox/run-...; the wrapper joins each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CGROUP_PARENT, killCgroups, rmdirQuiet, writeCg, type CgroupBackend, type CgroupLimits, type Controller, type RunCgroups } from './cgroup-common';

export class CgroupV1 implements CgroupBackend {
  readonly version = 1 as const;
  private cached: Partial<Record<Controller, string>> | undefined;
  private reasons: Partial<Record<Controller, string>> = {};

  constructor(readonly root = '/sys/fs/cgroup') {}

  get describe(): string {
    return `cgroup v1 under ${this.root}`;
  }

  bases(): Partial<Record<Controller, string>> {
    if (this.cached) return this.cached;
    const bases: Partial<Record<Controller, string>> = {};
    let own: string[] = [];
    try {
      own = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    } catch {
      // no cgroup info
    }
    for (const c of ['memory', 'pids', 'cpu'] as const) {
      const line = own.find((l) => l.split(':')[1]?.split(',').includes(c));
      const rel = line ? line.split(':').slice(2).join(':') : null;
      const mount = path.join(this.root, c);
      if (rel === null || !fs.existsSync(path.join(mount, 'cgroup.procs'))) {
        this.reasons[c] = `no cgroup v1 '${c}' hierarchy at ${mount}`;
        continue;
      }
      const base = path.join(mount, rel, CGROUP_PARENT);
      try {
        fs.mkdirSync(base, { recursive: true });
        bases[c] = base;
      } catch (err) {
        this.reasons[c] = `cannot create ${base}: ${(err as Error).message}`;
      }
    }
    this.cached = bases;
    return bases;
  }

  unavailableReason(c: Controller): string | null {
    this.bases();
    return this.bases()[c] ? null : (this.reasons[c] ?? `the '${c}' controller is not usable`);
  }

  create(name: string, limits: CgroupLimits): RunCgroups {
    const cg: RunCgroups = { name, dirs: {}, procs: [], all: [], version: 1, backend: this };
    for (const [c, base] of Object.entries(this.bases()) as Array<[Controller, string]>) {
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
      if (ok) {
        cg.dirs[c] = dir;
        cg.procs.push(path.join(dir, 'cgroup.procs'));
        cg.all.push(dir);
      } else {
        rmdirQuiet(dir);
      }
    }
    return cg;
  }

  kill(cg: RunCgroups): number {
    return killCgroups(cg.all);
  }

  oomKills(cg: RunCgroups): number {
    if (!cg.dirs.memory) return 0;
    try {
      const m = /oom_kill (\d+)/.exec(fs.readFileSync(path.join(cg.dirs.memory, 'memory.oom_control'), 'utf8'));
      if (m) return Number(m[1]);
      return Number(fs.readFileSync(path.join(cg.dirs.memory, 'memory.failcnt'), 'utf8')) > 0 ? 1 : 0;
    } catch {
      return 0;
    }
  }

  runDirs(): string[] {
    const out: string[] = [];
    for (const base of Object.values(this.bases())) {
      try {
        for (const n of fs.readdirSync(base)) if (n.startsWith('run-')) out.push(path.join(base, n));
      } catch {
        // gone
      }
    }
    return out;
  }

  /** Tests of the rlimit fallbacks: pretend these controllers are not writable. */
  hide(controllers: Controller[]): void {
    const b = this.bases();
    for (const c of controllers) {
      delete b[c];
      this.reasons[c] = `the '${c}' controller is hidden (test)`;
    }
  }
}
