/**
 * A lock between processes: a file created exclusively, holding the owner's pid. A lock whose owner is gone (a
 * worker that died while holding it) is taken over. Used around workspace image mounts (sandbox/quota.ts) and
 * snapshot stores (runtime/workspace-snapshots.ts).
 */
import * as fs from 'node:fs';

export interface PidLockOptions {
  /** Give up after this long, with `timeoutMessage(owner)`. */
  waitMs: number;
  pollMs: number;
  /**
   * Take over a lock that names this process: right when the caller already serialises its own users in
   * process (a lock with our pid was then left by an earlier process that had the same pid).
   */
  reclaimOwnPid: boolean;
  timeoutError: (owner: number) => Error;
}

export async function withPidLock<T>(lock: string, opts: PidLockOptions, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile
      }
      if (!owner || (opts.reclaimOwnPid && owner === process.pid) || !isAlive(owner)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() - started > opts.waitMs) throw opts.timeoutError(owner);
      await new Promise((r) => setTimeout(r, opts.pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** The process exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
