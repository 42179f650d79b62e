/** Sandboxed tool execution: bubblewrap runner, workspace file access, secrets, built-in tools. */
export {
  runSandboxed,
  checkSandbox,
  sandboxMode,
  resolveLimits,
  prepareWorkspace,
  sandboxIdle,
  sandboxCommandLine,
  SandboxUnavailableError,
  DEFAULT_LIMITS,
  TRUNCATION_MARKER,
  SANDBOX_UID,
  SANDBOX_GID,
} from './sandbox';
export type { SandboxRequest, SandboxResult, SandboxLimits, SandboxNetwork, SandboxMode, SandboxKillReason, SandboxCheck } from './sandbox';
export { readWorkspaceFile, writeWorkspaceFile, listWorkspaceFiles, workspacePathComponents, WorkspaceFileError, FILE_LIMITS } from './files';
export type { ReadFileResult, WriteFileResult, ListFilesResult, FileEntry, FileEncoding, WorkspaceFileErrorCode } from './files';
export { resolveSecrets, redactSecrets, redactDeep, secretEnvName, MissingSecretError, MIN_REDACT_LENGTH } from './secrets';
export type { ResolveSecretsOptions } from './secrets';
export { fetchWithSecret, secretHeaders } from './secret-fetch';
export type { SecretHeaderOptions } from './secret-fetch';
export { sandboxTools, shellTool, runPythonTool, runNodeTool, readFileTool, writeFileTool, listFilesTool } from './tools';
export type { SandboxToolOptions, CommandToolResult } from './tools';
export { DENIED_SYSCALLS } from './seccomp';
export { sweepStaleCgroups, detectCgroupBackend } from './cgroups';
export { WorkspaceQuotaError, releaseWorkspaceMounts, workspaceUsage } from './quota';
export { missingProtections, PROTECTIONS } from './protections';
export type { Protection, MissingProtection } from './protections';
