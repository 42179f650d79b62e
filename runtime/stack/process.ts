/**
 * Long-running stack processes (PostgreSQL, the Temporal server, workers), each under a tiny shell
 * supervisor: SIGTERM/SIGINT on the supervisor stops the process with the signal it shuts down cleanly on,
 * and when the owning process (the `npm run stack` command, or a test run) disappears - even by SIGKILL -
 * the supervisor stops the process too, so nothing is left running on a shared machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isAlive } from '../../sandbox/pid-lock';

const SUPERVISOR = `
"$@" 3>&- &
child=$!
echo "$child" >&3
exec 3>&-
finish() { kill -"$STACK_STOP_SIGNAL" "$child" 2>/dev/null; wait "$child"; exit $?; }
trap finish INT TERM HUP
while kill -0 "$child" 2>/dev/null; do
  if [ ! -d "/proc/$STACK_OWNER_PID" ]; then finish; fi
  sleep 1 & wait $!
done
wait "$child"
`;

export interface SupervisedProcess {
  name: string;
  /** The real process (not the supervisor); what a crash test would SIGKILL. */
  pid: number;
  logFile: string;
  /** Null while running; otherwise how it ended. */
  exited(): string | null;
  /** Clean stop (the process's own shutdown signal), SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface SuperviseOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  /** Signal the process shuts down cleanly on (PostgreSQL: INT = fast shutdown). */
  stopSignal?: 'TERM' | 'INT';
  /** Run as this uid/gid (PostgreSQL refuses root). */
  uid?: number;
  gid?: number;
  /** When this pid is gone the process is stopped; default: this process. */
  ownerPid?: number;
}

export { isAlive };

export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

export function tailFile(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log yet)';
  }
}

export async function supervise(opts: SuperviseOptions): Promise<SupervisedProcess> {
  mkdirSync(path.dirname(opts.logFile), { recursive: true });
  // Opened here (as the caller) and inherited: the log stays writable when the process runs as another user.
  const out = openSync(opts.logFile, 'a');
  const child: ChildProcess = spawn('/bin/sh', ['-c', SUPERVISOR, 'stack-supervisor', opts.command, ...opts.args], {
    cwd: opts.cwd,
    env: {
      ...opts.env,
      STACK_STOP_SIGNAL: opts.stopSignal ?? 'TERM',
      STACK_OWNER_PID: String(opts.ownerPid ?? process.pid),
    },
    // fd 3: the supervisor reports the real pid there (a file might not be writable for another user).
    stdio: ['ignore', out, out, 'pipe'],
    // Own process group: Ctrl-C in the terminal reaches only `npm run stack`, which then stops the
    // processes in order (workers, server, database) instead of all of them at once.
    detached: true,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  closeSync(out);
  child.unref();
  let exitInfo: string | null = null;
  child.once('exit', (code, signal) => {
    exitInfo = `${opts.name} exited (code ${code}, signal ${signal}); last lines of ${opts.logFile}:\n${tailFile(opts.logFile)}`;
  });
  const pidPipe = child.stdio[3] as Readable;
  // Bounded: a broken shell would never report the pid.
  const pid = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${opts.name}: the supervisor did not report a pid within 10 s; see ${opts.logFile}`)), 10_000);
    pidPipe.on('data', (d: Buffer) => (text += d.toString()));
    pidPipe.once('close', () => {
      clearTimeout(timer);
      const n = Number(text.trim());
      if (n > 0) resolve(n);
      else reject(new Error(exitInfo ?? `${opts.name}: the supervisor reported no pid; see ${opts.logFile}`));
    });
  });
  pidPipe.destroy();
  const supervisorPid = child.pid!;
  return {
    name: opts.name,
    pid,
    logFile: opts.logFile,
    exited: () => exitInfo,
    async stop(graceMs = 20_000) {
      if (isAlive(supervisorPid)) process.kill(supervisorPid, 'SIGTERM');
      if (!(await waitGone(pid, graceMs))) {
        // Did not shut down in time: a hard stop is still a stop (PostgreSQL and Temporal recover from it).
        if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        await waitGone(pid, 10_000);
      }
      await waitGone(supervisorPid, 5_000);
    },
  };
}
