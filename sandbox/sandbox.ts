/**
 * Runs a command inside a bubblewrap sandbox with resource limits.
 *
 * Process chain for one run (each step `exec`s the next, so node stays the direct parent of bwrap and
 * `--die-with-parent` follows the worker):
 *
 *   dash (joins the per-run cgroups, sets rlimits) -> setpriv (uid/gid 65534, no caps, no_new_privs,
 *     empty bounding set) -> bwrap (unprivileged: new user/pid/net/ipc/uts/cgroup/mount namespaces,
 *     seccomp filter) -> command          [without dash: /bin/sh (cgroups) -> prlimit (rlimits) -> ...]
 *
 * Why this shape:
 * - Joining the cgroups from inside the wrapper *before* exec means no process of the run can ever
 *   exist outside them (writing bwrap's pid from node after spawn would race with its first fork).
 * - bwrap runs as the unprivileged uid, not as root: inside a user namespace set up by root the
 *   sandbox uid would map back to host root, and RLIMIT_NPROC does not apply to root.
 * - Every process of the run lives in a fresh pid namespace whose init is bwrap's reaper; when the
 *   command exits, or bwrap is killed, or the worker dies (`--die-with-parent`), the namespace is torn
 *   down and the kernel kills everything left in it (nohup/setsid/double-fork included).
 * - Nothing of the worker leaks in: the wrapper gets a two-variable environment, bwrap's options (with
 *   the sandbox env) arrive through a pipe rather than the world-readable argv, and descriptors the
 *   worker inherited without close-on-exec are overwritten with /dev/null in the child.
 *
 * `SANDBOX=none` is an explicit opt-in to run commands directly on the host (for development on machines
 * without user namespaces); cgroup and rlimit limits still apply but there is no isolation.
 *
 * One module per concern, behind this facade (its exports are the public API):
 *   types.ts (types, errors, defaults) · request.ts (validation, limits) · mode.ts (mode, availability
 *   probe) · host.ts (binaries, /etc, environments) · fds.ts (inherited descriptors) · command-line.ts
 *   (wrapper -> setpriv -> bwrap) · workspace-dir.ts · capture.ts (output) · run.ts (one run).
 */
import { cgroupBackend, cgroupBases, resetCgroupDetection, useCgroupBackend } from './cgroups';
import { utf8Boundary } from './capture';
import { commandLine } from './command-line';
import { findExecutable, paths } from './host';
import { resolveLimits } from './request';
import type { SandboxLimits } from './types';

export * from './types';
export { resolveLimits } from './request';
export { checkSandbox, sandboxMode } from './mode';
export { prepareWorkspace } from './workspace-dir';
export { runSandboxed, sandboxIdle } from './run';

/**
 * For diagnostics: the equivalent command line of a run (without cgroups), with bwrap's options inlined
 * (runs pass them through a pipe) and the seccomp filter left out, so it can be pasted into a shell.
 */
export function sandboxCommandLine(argv: string[], workspaceDir: string, limits?: Partial<SandboxLimits>): string[] {
  const cl = commandLine({ argv, env: {}, workspace: workspaceDir, limits: resolveLimits(limits), cgroupProcs: [] });
  const opts = cl.bwrapOptions.filter((a, i, all) => a !== '--seccomp' && all[i - 1] !== '--seccomp');
  const at = cl.argv.indexOf('--args');
  // Without the trampoline: a pasted command line has no setup channel to announce itself on.
  return [...cl.argv.slice(0, at), ...opts, '--', ...argv];
}

/** Exposed for tests only. */
export const _internal = {
  utf8Boundary,
  cgroupBases,
  cgroupBackend,
  /** Run with another cgroup backend (e.g. v2 on a test mount); null returns to detection. */
  useCgroupBackend,
  /** Switch between the dash-builtin and the prlimit way of setting rlimits (both must work). */
  useRlimitTool(tool: 'dash' | 'prlimit'): void {
    paths().dash = tool === 'dash' ? findExecutable('dash') : null;
  },
  /** Pretend a controller is not writable (to exercise the rlimit fallbacks); `null` restores detection. */
  hideControllers: resetCgroupDetection,
};