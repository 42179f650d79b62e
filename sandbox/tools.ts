/**
 * Built-in tools: commands run in the bubblewrap sandbox with the session workspace at /workspace; file
 * tools operate on the same workspace from the host with strict containment (see files.ts).
 *
 * Every result is a small JSON-able object; the runtime redacts every secret the agent resolves from it
 * (sandboxed code itself never receives a secret). A command failing inside the sandbox is a normal result (non-zero `exitCode`) for the model
 * to react to; only an unusable sandbox throws (SandboxUnavailableError, with the fix in its message).
 */
import { z } from 'zod';
import { defineTool, type ToolContext, type ToolDefinition } from '../runtime/agent';
import { listWorkspaceFiles, readWorkspaceFile, writeWorkspaceFile, FILE_LIMITS } from './files';
import { redactDeep } from './secrets';
import { resolveLimits, runSandboxed, sandboxMode, type SandboxLimits, type SandboxResult } from './sandbox';
import { WorkspaceQuotaError } from './quota';

export interface SandboxToolOptions {
  /** Limits for commands run by these tools (per agent or per tool); unset fields use DEFAULT_LIMITS. */
  limits?: Partial<SandboxLimits>;
  /**
   * Removed: sandboxed code never receives a secret (it is model-controlled, and has no network to use
   * one on). Setting it throws with the alternative: call the authenticated API from a host-side tool
   * with `fetchWithSecret` (sandbox/secret-fetch.ts). Values other tools resolve are still redacted from
   * these tools' results by the runtime.
   */
  secrets?: never;
}

export interface CommandToolResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: { stdout: boolean; stderr: boolean };
  binary: { stdout: boolean; stderr: boolean };
  timedOut: boolean;
  killedReason: SandboxResult['killedReason'];
  durationMs: number;
}

const HEARTBEAT_MS = 5_000;
/** The activity timeout must outlive the sandbox's own wall clock, or Temporal would cut it first. */
const ACTIVITY_SLACK_MS = 15_000;
/** Keep source passed via argv well under the kernel's single-argument limit (128 KiB). */
const MAX_CODE_BYTES = 100 * 1024;
const MAX_STDIN_BYTES = 1024 * 1024;

function validateSecretNames(names: readonly string[] | undefined): void {
  if (names && names.length) {
    throw new Error(
      `sandbox tools no longer receive secrets (${names.join(', ')}): model-controlled code must never see a secret value. ` +
        'Call the API that needs it from a host-side tool with fetchWithSecret(ctx, name, url) (sandbox/secret-fetch.ts) instead',
    );
  }
}

const codeField = (lang: string) =>
  z
    .string()
    .min(1)
    .refine((s) => Buffer.byteLength(s) <= MAX_CODE_BYTES, `${lang} code is limited to ${MAX_CODE_BYTES} bytes; write larger programs to a file with write_file`)
    .describe(`${lang} source code to run`);
const stdinField = z.string().max(MAX_STDIN_BYTES).optional().describe('text written to the standard input');
const timeoutField = z.number().int().positive().optional().describe('wall-clock timeout in ms (capped by the configured limit)');

async function runCommand(argv: string[], args: { stdin?: string; timeoutMs?: number }, ctx: ToolContext, limits: SandboxLimits, extraEnv: Record<string, string> = {}): Promise<CommandToolResult> {
  // runSandboxed throws SandboxUnavailableError (reason + fix) when bubblewrap cannot be used.
  // Only fixed, non-secret variables: ctx.secrets is never exported into the sandbox.
  const env: Record<string, string> = { ...extraEnv };
  const timeoutMs = Math.min(args.timeoutMs ?? limits.timeoutMs, limits.timeoutMs);
  const beat = setInterval(() => ctx.heartbeat({ tool: argv[0], toolCallId: ctx.toolCallId }), HEARTBEAT_MS);
  try {
    const r = await runSandboxed({
      workspaceDir: ctx.workspaceDir,
      argv,
      stdin: args.stdin,
      env,
      limits: { ...limits, timeoutMs },
      network: 'none',
      signal: ctx.signal,
    }).catch((err: unknown) => {
      // A workspace over its disk limit is the model's to fix (it can free space), not a host failure.
      if (err instanceof WorkspaceQuotaError) return quotaRefusal(err);
      throw err;
    });
    if (r.killedReason) ctx.logger.warn('sandboxed command killed', { reason: r.killedReason, toolCallId: ctx.toolCallId });
    return redactDeep(
      {
        exitCode: r.exitCode,
        signal: r.signal,
        stdout: r.stdout,
        stderr: r.stderr,
        truncated: r.truncated,
        binary: r.binary,
        timedOut: r.timedOut,
        killedReason: r.killedReason,
        durationMs: Math.round(r.durationMs),
      },
      ctx.secrets,
    );
  } finally {
    clearInterval(beat);
  }
}

/** What the model sees when its workspace is over the disk limit: a result it can act on, nothing ran. */
function quotaRefusal(err: WorkspaceQuotaError): SandboxResult {
  return {
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: `${err.message}\n`,
    truncated: { stdout: false, stderr: false },
    binary: { stdout: false, stderr: false },
    timedOut: false,
    killedReason: 'disk',
    durationMs: 0,
    mode: sandboxMode(),
  };
}

const ShellInput = z.object({
  command: z.string().min(1).max(MAX_CODE_BYTES).describe('a bash command line, run with `bash -c` in /workspace'),
  stdin: stdinField,
  timeoutMs: timeoutField,
});

export function shellTool(options: SandboxToolOptions = {}): ToolDefinition<typeof ShellInput> {
  const limits = resolveLimits(options.limits);
  validateSecretNames(options.secrets);
  return defineTool({
    name: 'shell',
    description:
      'Run a bash command in an isolated Linux sandbox. The working directory /workspace persists between calls ' +
      'of this session; there is no network; /tmp is private and emptied after each call. ' +
      'Returns exitCode, stdout and stderr (long output is truncated).',
    input: ShellInput,
    // Commands can only touch the session's own workspace (no network, nothing else of the host).
    effects: 'none',
    timeoutMs: limits.timeoutMs + ACTIVITY_SLACK_MS,
    run: (args, ctx) => runCommand(['/bin/bash', '-c', args.command], args, ctx, limits),
  });
}

const PythonInput = z.object({ code: codeField('Python'), stdin: stdinField, timeoutMs: timeoutField });

export function runPythonTool(options: SandboxToolOptions = {}): ToolDefinition<typeof PythonInput> {
  const limits = resolveLimits(options.limits);
  validateSecretNames(options.secrets);
  return defineTool({
    name: 'run_python',
    description:
      'Run Python 3 code in an isolated sandbox (cwd /workspace, persisted per session; no network; standard library only). ' +
      'Print what you need to see; returns exitCode, stdout and stderr.',
    input: PythonInput,
    effects: 'none',
    timeoutMs: limits.timeoutMs + ACTIVITY_SLACK_MS,
    run: (args, ctx) => runCommand(['/usr/bin/python3', '-c', args.code], args, ctx, limits, { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' }),
  });
}

const NodeInput = z.object({ code: codeField('JavaScript'), stdin: stdinField, timeoutMs: timeoutField });

export function runNodeTool(options: SandboxToolOptions = {}): ToolDefinition<typeof NodeInput> {
  const limits = resolveLimits(options.limits);
  validateSecretNames(options.secrets);
  // Keep V8's heap below the cgroup limit so a runaway script gets a JS "heap out of memory" error it
  // can report, instead of a silent OOM kill.
  const heapMb = Math.max(16, Math.floor((limits.memoryBytes / (1024 * 1024)) * 0.75));
  return defineTool({
    name: 'run_node',
    description:
      'Run JavaScript (Node.js, CommonJS) in an isolated sandbox (cwd /workspace, persisted per session; no network). ' +
      'Use console.log for output; returns exitCode, stdout and stderr.',
    input: NodeInput,
    effects: 'none',
    timeoutMs: limits.timeoutMs + ACTIVITY_SLACK_MS,
    run: (args, ctx) => runCommand(['/usr/bin/node', '-e', args.code], args, ctx, limits, { NODE_OPTIONS: `--max-old-space-size=${heapMb}` }),
  });
}

const ReadInput = z.object({
  path: z.string().min(1).max(4096).describe('path relative to /workspace'),
  encoding: z.enum(['utf8', 'base64']).optional().describe("'base64' for binary files"),
  maxBytes: z.number().int().positive().max(FILE_LIMITS.maxReadBytes).optional(),
});

export function readFileTool(): ToolDefinition<typeof ReadInput> {
  return defineTool({
    name: 'read_file',
    description: `Read a file from the session workspace (/workspace). Symlinks are not followed. Returns at most ${FILE_LIMITS.maxReadBytes} bytes.`,
    input: ReadInput,
    effects: 'read',
    run: async (args, ctx) =>
      redactDeep(await readWorkspaceFile(ctx.workspaceDir, args.path, { encoding: args.encoding, maxBytes: args.maxBytes }), ctx.secrets),
  });
}

const WriteInput = z.object({
  path: z.string().min(1).max(4096).describe('path relative to /workspace; parent directories are created'),
  content: z.string().describe('file content'),
  encoding: z.enum(['utf8', 'base64']).optional().describe("'base64' when content is base64-encoded binary"),
});

export function writeFileTool(): ToolDefinition<typeof WriteInput> {
  return defineTool({
    name: 'write_file',
    description: `Create or overwrite a file in the session workspace (/workspace). Symlinks are refused. At most ${FILE_LIMITS.maxWriteBytes} bytes.`,
    input: WriteInput,
    // Only the session's own workspace changes, and a whole-file write is idempotent (no append on purpose).
    effects: 'none',
    run: async (args, ctx) => writeWorkspaceFile(ctx.workspaceDir, args.path, args.content, { encoding: args.encoding, createDirs: true }),
  });
}

const ListInput = z.object({
  path: z.string().min(1).max(4096).optional().describe('directory relative to /workspace (default: the workspace root)'),
  recursive: z.boolean().optional(),
});

export function listFilesTool(): ToolDefinition<typeof ListInput> {
  return defineTool({
    name: 'list_files',
    description: `List files in the session workspace (/workspace), optionally recursively (at most ${FILE_LIMITS.maxListEntries} entries).`,
    input: ListInput,
    effects: 'read',
    run: async (args, ctx) => redactDeep(await listWorkspaceFiles(ctx.workspaceDir, args.path ?? '.', { recursive: args.recursive }), ctx.secrets),
  });
}

/** All built-in sandbox tools, sharing one set of limits. */
export function sandboxTools(options: SandboxToolOptions = {}): [
  ReturnType<typeof shellTool>,
  ReturnType<typeof runPythonTool>,
  ReturnType<typeof runNodeTool>,
  ReturnType<typeof readFileTool>,
  ReturnType<typeof writeFileTool>,
  ReturnType<typeof listFilesTool>,
] {
  return [shellTool(options), runPythonTool(options), runNodeTool(options), readFileTool(), writeFileTool(), listFilesTool()];
}
