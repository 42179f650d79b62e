/** Shared helpers for the sandbox tests (real bubblewrap, real cgroups; nothing is mocked). */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ToolContext } from '../../runtime/agent';
import { sweepStaleCgroups } from '../../sandbox/cgroups';
import { releaseWorkspaceMounts } from '../../sandbox/quota';
import { sandboxIdle, _internal } from '../../sandbox/sandbox';

/**
 * A temp root for the workspaces of one test file. 0711 so the sandbox uid can traverse to its own
 * workspace (bwrap runs unprivileged and resolves the bind source itself) but cannot list siblings.
 */
export function makeTempRoot(tag: string): { root: string; workspace(name?: string): string; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `agent-sbx-${tag}-`));
  fs.chmodSync(root, 0o711);
  return {
    root,
    workspace: (name = `ws-${randomBytes(4).toString('hex')}`) => path.join(root, name),
    // Workspaces are mounted filesystems (sandbox/quota.ts): unmount them before removing the tree.
    cleanup: () => {
      releaseWorkspaceMounts(root);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export const marker = (tag: string): string => `sbxmark-${tag}-${randomBytes(6).toString('hex')}`;

/** Host pids whose command line or environment contains `mark` (root can read every /proc/<pid>/environ). */
export function processesWithMarker(mark: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    for (const f of ['cmdline', 'environ']) {
      try {
        if (fs.readFileSync(`/proc/${pid}/${f}`).includes(mark)) {
          found.push(pid);
          break;
        }
      } catch {
        // exited meanwhile, or a kernel thread
      }
    }
  }
  return found;
}

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Run cgroups of this process that are still present (each run must remove its own). */
export function leftoverCgroups(pid = process.pid): string[] {
  return _internal.cgroupBackend().runDirs().filter((d) => path.basename(d).startsWith(`run-${pid}-`));
}

/** Waits for the background cgroup removal of finished runs, sweeps dead workers' cgroups, lists what is left. */
export async function finalCgroupCheck(): Promise<string[]> {
  await sandboxIdle();
  sweepStaleCgroups();
  return leftoverCgroups();
}

/** Disk blocks used under `dir`, as root sees it. */
export function diskUsageBytes(dir: string): number {
  const out = spawnSync('du', ['-s', '-B1', dir], { encoding: 'utf8' });
  return Number(out.stdout.split('\t')[0]) || 0;
}

export function toolContext(workspaceDir: string, overrides: Partial<ToolContext> = {}): ToolContext {
  const noop = (): void => undefined;
  return {
    sessionId: 'test-session',
    seq: 1,
    step: 1,
    attempt: 1,
    toolCallId: 'call-1',
    idempotencyKey: 'key-1',
    workspaceDir,
    secrets: {},
    logger: { info: noop, warn: noop, error: noop },
    heartbeat: noop,
    signal: new AbortController().signal,
    ...overrides,
  };
}
