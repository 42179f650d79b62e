/** One sandboxed run: validate, prepare workspace and cgroups, spawn the chain, enforce the limits, report. */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { createRunCgroups, destroyRunCgroups, killCgroup, oomKills, sweepStaleCgroups, type RunCgroups } from './cgroups';
import { FD_CMD_STDERR, SetupChannel } from './setup-channel';
import { assertUnderQuota, ensureWorkspaceFs, quotaAvailable, workspaceUsage } from './quota';
import { Capture } from './capture';
import { commandLine, feedBwrap, wrapperArgs, type CommandLine } from './command-line';
import { guardStdio, type StdioSlot } from './fds';
import { sandboxEnv, WRAPPER_ENV } from './host';
import { checkSandbox, sandboxMode } from './mode';
import { MAX_ARGV_TOTAL_BYTES, RequestSchema, resolveLimits } from './request';
import { prepareWorkspace } from './workspace-dir';
import { SANDBOX_UID, SandboxUnavailableError, type SandboxKillReason, type SandboxLimits, type SandboxMode, type SandboxRequest, type SandboxResult } from './types';

/** Runs `argv` in a fresh sandbox with the workspace at /workspace. Never throws for a failing command. */
export async function runSandboxed(input: SandboxRequest): Promise<SandboxResult> {
  const parsed = RequestSchema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid sandbox request: ${z.prettifyError(parsed.error)}`);
  const req = parsed.data;
  const network = req.network;
  if (network !== 'none' && network.mode !== 'none') {
    throw new Error(`sandbox network mode '${network.mode}' is not supported yet; only 'none' is`);
  }
  const env = req.env ?? {};
  const argvBytes = [...req.argv, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].reduce((s, a) => s + Buffer.byteLength(a) + 1, 0);
  if (argvBytes > MAX_ARGV_TOTAL_BYTES) {
    throw new Error(`sandbox argv and env are ${argvBytes} bytes; the limit is ${MAX_ARGV_TOTAL_BYTES} (pass large data via stdin or a file)`);
  }
  const limits = resolveLimits(req.limits);
  const mode = sandboxMode();
  if (mode !== 'none') {
    const check = await checkSandbox();
    if (!check.ok) throw new SandboxUnavailableError(check.reason, check.fix);
  }
  const started = performance.now();
  if (req.signal?.aborted) return emptyResult(mode, 'cancelled', started);

  const workspace = prepareWorkspace(req.workspaceDir);
  // The workspace is its own size-limited filesystem (quota.ts); a workspace over this run's limit
  // (left so by an earlier run with a larger limit, or a write) is refused before anything starts.
  if (quotaAvailable().ok) {
    await ensureWorkspaceFs(workspace, limits.workspaceBytes);
    assertUnderQuota(workspace, limits.workspaceBytes);
  }
  if (!swept) {
    swept = true;
    sweepStaleCgroups();
  }
  const cg = createRunCgroups(limits);
  try {
    return await execute({ req, env, limits, mode, workspace, cg, started });
  } finally {
    // Removing the cgroup has to wait until the kernel has released the exited tasks (a few ms after
    // the pid namespace is gone); the caller does not need to wait for that. sandboxIdle() does.
    const done = destroyRunCgroups(cg).finally(() => pendingCleanups.delete(done));
    pendingCleanups.add(done);
  }
}

const pendingCleanups = new Set<Promise<void>>();
let swept = false;

/** Resolves when every finished run has removed its cgroups (for tests and graceful shutdown). */
export async function sandboxIdle(): Promise<void> {
  while (pendingCleanups.size) await Promise.all([...pendingCleanups]);
}

function emptyResult(mode: SandboxMode, reason: SandboxKillReason, started: number): SandboxResult {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    truncated: { stdout: false, stderr: false },
    binary: { stdout: false, stderr: false },
    timedOut: false,
    killedReason: reason,
    durationMs: performance.now() - started,
    mode,
  };
}

interface ExecuteArgs {
  req: z.infer<typeof RequestSchema>;
  env: Record<string, string>;
  limits: SandboxLimits;
  mode: SandboxMode;
  workspace: string;
  cg: RunCgroups;
  started: number;
}

function execute({ req, env, limits, mode, workspace, cg, started }: ExecuteArgs): Promise<SandboxResult> {
  const cgroupProcs = cg.procs;
  let argv: string[];
  let cl: CommandLine | null = null;
  let spawnEnv: NodeJS.ProcessEnv;
  let cwd: string;
  const stdinMode = req.stdin === undefined ? 'ignore' : 'pipe';
  let stdio: StdioSlot[];
  if (mode !== 'none') {
    cl = commandLine({ argv: req.argv, env, workspace, limits, cgroupProcs, memoryCgroup: !!cg.dirs.memory, pidsCgroup: !!cg.dirs.pids });
    argv = cl.argv;
    spawnEnv = WRAPPER_ENV;
    cwd = '/';
    stdio = [stdinMode, 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'];
  } else {
    argv = [...wrapperArgs(cgroupProcs, limits, { nproc: null, dataBytes: cg.dirs.memory ? null : limits.memoryBytes }, 'trampoline'), ...req.argv];
    spawnEnv = { ...sandboxEnv(env, workspace), PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
    cwd = workspace;
    stdio = [stdinMode, 'pipe', 'pipe', 'ignore', 'ignore', 'pipe'];
  }

  return new Promise<SandboxResult>((resolve, reject) => {
    // detached: own process group, so a timeout can kill the wrapper chain as a group.
    const child = spawn(argv[0], argv.slice(1), { cwd, env: spawnEnv, stdio: guardStdio(stdio), detached: true });
    if (cl) feedBwrap(child, cl);
    const out = new Capture(limits.outputBytes);
    const err = new Capture(limits.outputBytes);
    let killedReason: SandboxKillReason | null = null;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let settled = false;

    const kill = (reason: SandboxKillReason): void => {
      if (killedReason || exit) return;
      killedReason = reason;
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      killCgroup(cg);
    };

    const onData = (cap: Capture) => (chunk: Buffer) => {
      cap.push(chunk);
      if (out.total + err.total > limits.outputKillBytes) kill('output');
    };
    (child.stdout as Readable).on('data', onData(out));
    // fd 2 of the chain is the setup channel; the command's stderr arrives on FD_CMD_STDERR.
    const channel = new SetupChannel();
    (child.stderr as Readable).on('data', (d: Buffer) => channel.push(d));
    const cmdStderr = (child.stdio as unknown as Readable[])[FD_CMD_STDERR];
    cmdStderr.on('data', onData(err));

    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the command may exit without reading its input
      child.stdin.end(req.stdin === undefined ? undefined : Buffer.from(req.stdin));
    }

    const timer = setTimeout(() => kill('timeout'), limits.timeoutMs);
    const onAbort = (): void => kill('cancelled');
    req.signal?.addEventListener('abort', onAbort, { once: true });
    // Aborted while the run was being set up: 'abort' has already fired and will not fire again.
    if (req.signal?.aborted) kill('cancelled');

    // The workspace filesystem is the hard wall (a little above the limit: ext4 metadata); this stops a
    // run that passes the limit itself. One statfs() per poll: no walk of the sandbox's tree. Runs
    // shorter than the poll are measured at the end (below) and the next run is refused while over.
    const overDisk = (): boolean => (workspaceUsage(workspace)?.usedBytes ?? 0) > limits.workspaceBytes;
    let stopped = false;
    const diskTimer: NodeJS.Timeout = setInterval(() => {
      if (!stopped && overDisk()) kill('disk');
    }, 100);

    // A process that escaped into the background but still holds the pipes must not hang the run:
    // once the main process is gone, give the streams a moment, then kill the cgroup and close them.
    let lingerTimer: NodeJS.Timeout | undefined;
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      lingerTimer = setTimeout(() => {
        killCgroup(cg);
        child.stdout?.destroy();
        child.stderr?.destroy();
        cmdStderr.destroy();
      }, 2000);
    });

    const cleanup = (): void => {
      clearTimeout(timer);
      stopped = true;
      clearInterval(diskTimer);
      if (lingerTimer) clearTimeout(lingerTimer);
      req.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(e);
    });

    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      cleanup();
      const status = exit ?? { code, signal };
      const o = out.finish('stdout', killedReason === 'output');
      const e = err.finish('stderr', killedReason === 'output');
      // Decided by the setup channel alone (never by the exit code or the command's output): the
      // command was never started and we did not kill the run ourselves.
      if (!channel.started && !killedReason) {
        reject(setupError(channel.diagnostic(), status));
        return;
      }
      let reason: SandboxKillReason | null = killedReason;
      if (!reason && oomKills(cg) > 0) reason = 'memory';
      if (!reason && overDisk()) reason = 'disk';
      if (!reason && (status.code === 128 + 24 || status.signal === 'SIGXCPU')) reason = 'cpu';
      resolve({
        exitCode: status.code,
        signal: status.signal,
        stdout: o.text,
        stderr: e.text,
        truncated: { stdout: o.truncated, stderr: e.truncated },
        binary: { stdout: o.binary, stderr: e.binary },
        timedOut: killedReason === 'timeout',
        killedReason: reason,
        durationMs: performance.now() - started,
        mode,
      });
    });
  });
}

/** The error for a run whose command never started; `diagnostic` comes from the setup channel only. */
function setupError(diagnostic: string, status: { code: number | null; signal: NodeJS.Signals | null }): SandboxUnavailableError {
  const said = diagnostic || `the setup chain exited with ${status.signal ?? `code ${status.code}`} and no message`;
  if (diagnostic.startsWith('agent-sandbox-setup:')) {
    return new SandboxUnavailableError(said, 'check that the cgroup hierarchy under /sys/fs/cgroup is writable by the worker');
  }
  if (/Can't find source path/.test(diagnostic)) {
    return new SandboxUnavailableError(`bubblewrap failed to set up the sandbox: ${said}`, `make every parent directory of the workspace traversable (o+x) for uid ${SANDBOX_UID}`);
  }
  return new SandboxUnavailableError(`bubblewrap failed to set up the sandbox: ${said}`, 'run checkSandbox() for a diagnosis; unprivileged user namespaces must be allowed');
}
