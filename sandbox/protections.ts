/**
 * The protections a bubblewrap run relies on besides the namespaces, and what happens without one.
 *
 * - seccomp: the syscall filter (seccomp.ts) exists for x86_64 only;
 * - cgroups: the per-run memory and pids limits (cgroups.ts; v1 or v2), which also isolate concurrent
 *   runs from each other (no shared per-uid process limit);
 * - disk: the per-workspace filesystem (quota.ts).
 *
 * A missing protection fails closed: tools are refused with a message naming it and the fix, unless the
 * operator opts out explicitly with SANDBOX_ALLOW_DEGRADED=<names> (comma-separated). A run that goes
 * ahead with less is shown exactly like SANDBOX=none is: sandboxMode() becomes e.g.
 * 'bubblewrap-degraded(no-seccomp)', which the worker puts in every session's state and SandboxMode
 * search attribute, and which every SandboxResult carries.
 */
import { cgroupBackend } from './cgroups';
import { quotaAvailable } from './quota';
import { seccompProgram, seccompUnsupportedReason } from './seccomp';

export type Protection = 'seccomp' | 'cgroups' | 'disk';
export const PROTECTIONS: readonly Protection[] = ['seccomp', 'cgroups', 'disk'];

export interface MissingProtection {
  name: Protection;
  reason: string;
  fix: string;
}

/** The protections this host cannot provide right now. */
export function missingProtections(): MissingProtection[] {
  const out: MissingProtection[] = [];
  if (!seccompProgram()) {
    out.push({ name: 'seccomp', reason: seccompUnsupportedReason() ?? 'no seccomp filter', fix: 'run the worker on x86_64' });
  }
  const cg = cgroupBackend();
  const cgReasons = (['memory', 'pids'] as const).map((c) => cg.unavailableReason(c)).filter((r): r is string => r !== null);
  if (cgReasons.length) {
    out.push({
      name: 'cgroups',
      reason: `no per-run memory/pids limits (${cg.describe}): ${cgReasons.join('; ')}`,
      fix: 'run the worker as root with a writable cgroup hierarchy (v2: the memory and pids controllers available to the worker\'s cgroup)',
    });
  }
  const q = quotaAvailable();
  if (!q.ok) out.push({ name: 'disk', reason: `no per-workspace disk quota: ${q.reason}`, fix: q.fix });
  return out;
}

/** Parsed SANDBOX_ALLOW_DEGRADED; an unknown name fails closed (like an unknown SANDBOX value). */
export function allowedDegraded(): Set<Protection> {
  const v = process.env.SANDBOX_ALLOW_DEGRADED ?? '';
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(PROTECTIONS as readonly string[]).includes(n)) {
      throw new Error(`SANDBOX_ALLOW_DEGRADED='${v}': '${n}' is not a protection; use a comma-separated list of ${PROTECTIONS.join(', ')}`);
    }
  }
  return new Set(names as Protection[]);
}

/** Missing protections the operator allowed (the run goes ahead and says so) and the others (refused). */
export function protectionStatus(): { degraded: MissingProtection[]; refused: MissingProtection[] } {
  const allowed = allowedDegraded();
  const missing = missingProtections();
  return { degraded: missing.filter((m) => allowed.has(m.name)), refused: missing.filter((m) => !allowed.has(m.name)) };
}
