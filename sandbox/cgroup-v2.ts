/**
 * cgroup v2 backend: one directory per run, <mount>/<worker's own cgroup>/agent-sandbox/run-..., with
 * memory.max (+ memory.swap.max 0), pids.max and cpu.max; memory.events counts OOM kills; cgroup.kill
 * kills the whole tree at once (no race with a fork bomb, unlike reading cgroup.procs and signalling).
 *
 * Controllers have to be enabled top-down in cgroup.subtree_control, and v2 forbids that in a cgroup that
 * holds processes (except the root): the worker's own cgroup must therefore be the root or have no
 * processes of its own (e.g. a delegated systemd unit whose worker sits in a leaf). When a controller
 * cannot be enabled, it is reported as unavailable (and runs are refused unless degraded mode is allowed).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CGROUP_PARENT, killCgroups, rmdirQuiet, writeCg, type CgroupBackend, type CgroupLimits, type Controller, type RunCgroups } from './cgroup-common';

export class CgroupV2 implements CgroupBackend {
  readonly version = 2 as const;
  private cached: Partial<Record<Controller, string>> | undefined;
  private base: string | null = null;
  private reasons: Partial<Record<Controller, string>> = {};

  /**
   * @param mount a cgroup2 mount (normally /sys/fs/cgroup)
   * @param parentName the directory for this worker's runs under its own cgroup
   * @param own the worker's cgroup relative to the mount (default: from /proc/self/cgroup)
   */
  constructor(
    readonly mount = '/sys/fs/cgroup',
    private readonly parentName = CGROUP_PARENT,
    private readonly own: string | null = null,
  ) {}

  get describe(): string {
    return `cgroup v2 at ${this.mount}`;
  }

  private ownCgroup(): string {
    if (this.own !== null) return this.own;
    try {
      const line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
      return line ? line.slice(3) : '/';
    } catch {
      return '/';
    }
  }

  /** The directory the run cgroups are created in (null when it cannot be made). */
  baseDir(): string | null {
    this.bases();
    return this.base;
  }

  bases(): Partial<Record<Controller, string>> {
    if (this.cached) return this.cached;
    const bases: Partial<Record<Controller, string>> = {};
    this.cached = bases;
    const ownDir = path.join(this.mount, this.ownCgroup());
    const base = path.join(ownDir, this.parentName);
    try {
      fs.mkdirSync(base, { recursive: true });
    } catch (err) {
      for (const c of ['memory', 'pids', 'cpu'] as const) this.reasons[c] = `cannot create ${base}: ${(err as Error).message}`;
      return bases;
    }
    this.base = base;
    const offered = readWords(path.join(ownDir, 'cgroup.controllers'));
    for (const c of ['memory', 'pids', 'cpu'] as const) {
      if (!offered.has(c)) {
        this.reasons[c] = `the '${c}' controller is not available in ${ownDir} (cgroup.controllers offers: ${[...offered].join(' ') || 'none'}; on a hybrid host it is bound to cgroup v1)`;
        continue;
      }
      // Top-down: the worker's cgroup hands `c` to agent-sandbox/, which hands it to each run.
      const err = enable(ownDir, c) ?? enable(base, c);
      if (err) this.reasons[c] = err;
      else bases[c] = base;
    }
    return bases;
  }

  unavailableReason(c: Controller): string | null {
    return this.bases()[c] ? null : (this.reasons[c] ?? `the '${c}' controller is not usable`);
  }

  create(name: string, limits: CgroupLimits): RunCgroups {
    const b = this.bases();
    const cg: RunCgroups = { name, dirs: {}, procs: [], all: [], version: 2, backend: this };
    if (!this.base) return cg;
    const dir = path.join(this.base, name);
    try {
      fs.mkdirSync(dir);
    } catch {
      return cg;
    }
    // The directory alone (no controller) already gives cgroup.procs and cgroup.kill: the whole tree.
    cg.procs.push(path.join(dir, 'cgroup.procs'));
    cg.all.push(dir);
    if (b.memory && writeCg(dir, 'memory.max', String(limits.memoryBytes))) {
      // No swap escape hatch (the file is absent without swap accounting, which is fine).
      writeCg(dir, 'memory.swap.max', '0');
      cg.dirs.memory = dir;
    }
    if (b.pids && writeCg(dir, 'pids.max', String(limits.maxProcesses))) cg.dirs.pids = dir;
    if (b.cpu && limits.cpus && writeCg(dir, 'cpu.max', `${Math.max(1000, Math.round(limits.cpus * 100_000))} 100000`)) cg.dirs.cpu = dir;
    return cg;
  }

  kill(cg: RunCgroups): number {
    // cgroup.kill (Linux 5.14+) kills every process of the cgroup and its descendants atomically.
    return killCgroups(cg.all, (dir) => writeCg(dir, 'cgroup.kill', '1'));
  }

  oomKills(cg: RunCgroups): number {
    if (!cg.dirs.memory) return 0;
    try {
      const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(path.join(cg.dirs.memory, 'memory.events'), 'utf8'));
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  runDirs(): string[] {
    const base = this.baseDir();
    if (!base) return [];
    try {
      return fs
        .readdirSync(base)
        .filter((n) => n.startsWith('run-'))
        .map((n) => path.join(base, n));
    } catch {
      return [];
    }
  }

  /** Removes the parent directory (tests that mount their own hierarchy). */
  removeBase(): void {
    if (this.base) rmdirQuiet(this.base);
  }
}

function readWords(file: string): Set<string> {
  try {
    return new Set(fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean));
  } catch {
    return new Set();
  }
}

/** Enables controller `c` for the children of `dir`; returns why not, or null. */
function enable(dir: string, c: Controller): string | null {
  if (readWords(path.join(dir, 'cgroup.subtree_control')).has(c)) return null;
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), `+${c}`);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY') {
      return `cannot enable '${c}' in ${dir}: it holds processes (cgroup v2 allows controllers only for cgroups without processes of their own); run the worker in a leaf cgroup of a delegated subtree (e.g. systemd Delegate=yes)`;
    }
    return `cannot enable '${c}' in ${dir}/cgroup.subtree_control: ${(err as Error).message}`;
  }
}
