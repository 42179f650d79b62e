/** Which sandbox mode is in force, and whether bubblewrap can create the sandbox on this host (probed, cached). */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { protectionStatus } from './protections';
import { FD_CMD_STDERR, SetupChannel } from './setup-channel';
import { commandLine, feedBwrap, type CommandLine } from './command-line';
import { guardStdio } from './fds';
import { isRoot, paths, WRAPPER_ENV } from './host';
import { DEFAULT_LIMITS, type SandboxCheck, type SandboxMode } from './types';

/**
 * 'none' only when the operator set SANDBOX=none explicitly; unknown values fail closed. With bubblewrap,
 * missing protections the operator allowed make it 'bubblewrap-degraded(no-...)'; missing protections
 * not allowed leave it 'bubblewrap' and every run is refused (checkSandbox says why).
 */
export function sandboxMode(): SandboxMode {
  const v = process.env.SANDBOX;
  if (v === 'none') return 'none';
  if (!(v === undefined || v === '' || v === 'bubblewrap' || v === 'bwrap')) {
    throw new Error(`SANDBOX='${v}' is not a sandbox mode; use 'bubblewrap' (default) or 'none' (unsafe opt-in)`);
  }
  const { degraded } = protectionStatus();
  return degraded.length ? `bubblewrap-degraded(${degraded.map((m) => `no-${m.name}`).join(',')})` : 'bubblewrap';
}

let checkCache: { at: number; result: SandboxCheck } | undefined;
const CHECK_FAILURE_TTL_MS = 10_000;

/**
 * Whether bubblewrap can create the sandbox on this host. Probes once with the real invocation; a success
 * is cached for the life of the process, a failure for 10 s (so fixing the host does not need a restart).
 */
export async function checkSandbox(): Promise<SandboxCheck> {
  if (sandboxMode() === 'none') return { ok: true };
  // Missing protections first (cheap, and never cached: setting the opt-out needs no restart).
  const { refused } = protectionStatus();
  if (refused.length) {
    const names = refused.map((m) => m.name).join(',');
    return {
      ok: false,
      reason: `a sandbox protection is missing: ${refused.map((m) => m.reason).join('; ')}`,
      fix:
        `${refused.map((m) => m.fix).join('; ')}; or accept running with less isolation: SANDBOX_ALLOW_DEGRADED=${names} ` +
        `(every session then shows sandbox mode 'bubblewrap-degraded(${refused.map((m) => `no-${m.name}`).join(',')})')`,
    };
  }
  if (checkCache && (checkCache.result.ok || performance.now() - checkCache.at < CHECK_FAILURE_TTL_MS)) {
    return checkCache.result;
  }
  const result = await probeSandbox();
  checkCache = { at: performance.now(), result };
  return result;
}

async function probeSandbox(): Promise<SandboxCheck> {
  const fixInstall =
    'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), ' +
    'or set SANDBOX=none to run tools unsandboxed (unsafe, development only)';
  if (!paths().bwrap) return { ok: false, reason: 'bubblewrap (bwrap) is not installed', fix: fixInstall };
  if ((isRoot && !paths().setpriv) || (!paths().prlimit && !paths().dash)) {
    return { ok: false, reason: 'setpriv/prlimit (util-linux) are missing; they drop root and set rlimits before bwrap', fix: 'apt-get install util-linux' };
  }
  let cl: CommandLine;
  try {
    cl = commandLine({ argv: ['/bin/true'], env: {}, workspace: null, limits: DEFAULT_LIMITS, cgroupProcs: [] });
  } catch (err) {
    return { ok: false, reason: `preparing the sandbox failed: ${(err as Error).message}`, fix: 'run the worker as root, or make /run writable' };
  }
  const out = await new Promise<{ code: number | null; started: boolean; stderr: string }>((resolve) => {
    const child = spawn(cl.argv[0], cl.argv.slice(1), { cwd: '/', env: WRAPPER_ENV, stdio: guardStdio(['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe']) });
    feedBwrap(child, cl);
    (child.stdio as unknown as Readable[])[FD_CMD_STDERR].resume();
    const channel = new SetupChannel();
    child.stderr?.on('data', (d: Buffer) => channel.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, started: false, stderr: String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, started: channel.started, stderr: channel.started ? '' : channel.diagnostic() });
    });
  });
  // Usable only if the trampoline announced itself on the setup channel and /bin/true then succeeded.
  if (out.started && out.code === 0) return { ok: true };
  return {
    ok: false,
    reason: `bubblewrap cannot create the sandbox namespaces (${out.stderr.trim() || `exit ${out.code}`})`,
    fix:
      'allow unprivileged user namespaces: sysctl -w user.max_user_namespaces=15000 ' +
      '(Debian: kernel.unprivileged_userns_clone=1; Ubuntu 24.04+: kernel.apparmor_restrict_unprivileged_userns=0); ' +
      'inside Docker run with --security-opt seccomp=unconfined --security-opt apparmor=unconfined; ' +
      'or set SANDBOX=none to run tools unsandboxed (unsafe, development only)',
  };
}
