/** Validation of sandbox requests and limits at the boundary (zod), and the limits in force. */
import { z } from 'zod';
import { DEFAULT_LIMITS, type SandboxLimits } from './types';

const posInt = z.number().int().positive();
const LimitsSchema = z.strictObject({
  timeoutMs: posInt.max(24 * 3600_000),
  cpuSeconds: posInt.max(24 * 3600),
  memoryBytes: posInt.min(32 * 1024 * 1024),
  // bwrap itself needs a few tasks (monitor, reaper) before the command starts.
  maxProcesses: posInt.min(8),
  fileSizeBytes: posInt,
  openFiles: posInt.min(16),
  tmpBytes: posInt.min(1024 * 1024),
  outputBytes: posInt,
  outputKillBytes: posInt,
  workspaceBytes: posInt,
  cpus: z.number().min(0).max(1024),
});

/** Linux refuses single arguments above MAX_ARG_STRLEN (32 pages) and a total above ~1/4 of the stack rlimit. */
const MAX_ARG_BYTES = 128 * 1024 - 1;
export const MAX_ARGV_TOTAL_BYTES = 1024 * 1024;

const noNul = (s: string): boolean => !s.includes('\0');
const NetworkSchema = z.union([
  z.literal('none'),
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({ mode: z.literal('allowlist'), allow: z.array(z.string()) }),
]);
export const RequestSchema = z.strictObject({
  workspaceDir: z.string().min(1).refine(noNul, 'must not contain NUL'),
  argv: z
    .array(
      z
        .string()
        .refine(noNul, 'arguments must not contain NUL')
        .refine((s) => Buffer.byteLength(s) <= MAX_ARG_BYTES, `an argument is longer than ${MAX_ARG_BYTES} bytes`),
    )
    .min(1),
  stdin: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$'),
      z.string().refine(noNul, 'environment values must not contain NUL'),
    )
    .optional(),
  limits: LimitsSchema.partial().optional(),
  network: NetworkSchema,
  signal: z.instanceof(AbortSignal).optional(),
});

export function resolveLimits(limits?: Partial<SandboxLimits>): SandboxLimits {
  const parsed = LimitsSchema.partial().parse(limits ?? {});
  const merged: SandboxLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(parsed) as Array<[keyof SandboxLimits, number | undefined]>) {
    if (v !== undefined) merged[k] = v;
  }
  return merged;
}
