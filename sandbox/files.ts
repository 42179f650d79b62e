/**
 * Host-side file operations on a session workspace, for the read_file / write_file / list_files tools.
 *
 * These run as the worker (root), on a tree the sandboxed code controls, so containment cannot rely on
 * checking a path and then using it (the sandbox can swap a directory for a symlink in between). Every
 * path is instead walked one component at a time from an open directory fd, opening each step with
 * O_NOFOLLOW through `/proc/self/fd/<dirfd>/<name>` (openat() semantics; Node has no openat). So:
 * - no symlink is ever followed, inside or outside the workspace (a symlink is reported, not resolved);
 * - `..` is rejected before the walk; absolute paths are only accepted under `/workspace/`;
 * - regular files with more than one hard link are refused (the other link may be outside);
 * - FIFOs and devices are refused (opened O_NONBLOCK so a FIFO cannot hang the worker);
 * - the opened fd's real path is checked to be under the workspace as a last guard.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DEFAULT_LIMITS, SANDBOX_GID, SANDBOX_UID, prepareWorkspace, sandboxMode } from './sandbox';
import { assertUnderQuota, ensureWorkspaceFs, quotaAvailable, workspaceQuota, workspaceUsage } from './quota';

export type WorkspaceFileErrorCode =
  | 'INVALID_PATH'
  | 'ESCAPE'
  | 'SYMLINK'
  | 'HARDLINK'
  | 'NOT_FOUND'
  | 'NOT_A_FILE'
  | 'NOT_A_DIRECTORY'
  | 'TOO_LARGE'
  | 'NO_SPACE';

export class WorkspaceFileError extends Error {
  constructor(
    readonly code: WorkspaceFileErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WorkspaceFileError';
  }
}

export const FILE_LIMITS = Object.freeze({
  /** Bytes returned by a read unless the caller asks for less. */
  maxReadBytes: 1024 * 1024,
  /** Largest content a write accepts. */
  maxWriteBytes: 10 * 1024 * 1024,
  maxListEntries: 1000,
  maxListDepth: 16,
});

export type FileEncoding = 'utf8' | 'base64';

export interface ReadFileResult {
  path: string;
  content: string;
  encoding: FileEncoding;
  /** Size of the file on disk. */
  size: number;
  truncated: boolean;
  /** The bytes are not valid UTF-8 (with encoding 'utf8', invalid sequences were replaced by U+FFFD). */
  binary: boolean;
}

export interface WriteFileResult {
  path: string;
  bytes: number;
  created: boolean;
}

export interface FileEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
}

export interface ListFilesResult {
  entries: FileEntry[];
  truncated: boolean;
}

// libuv opens every file with O_CLOEXEC, so fds never leak into spawned sandboxes.
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK, O_APPEND } = fs.constants;

const PathSchema = z.string().min(1).max(4096);

/** Splits a workspace-relative path into components; rejects anything that could leave the workspace. */
export function workspacePathComponents(input: string): string[] {
  const p = PathSchema.parse(input);
  if (p.includes('\0')) throw new WorkspaceFileError('INVALID_PATH', 'path contains a NUL byte');
  let rel = p;
  // The model sees the workspace as /workspace inside the sandbox; accept that spelling too.
  if (rel === '/workspace' || rel.startsWith('/workspace/')) rel = rel.slice('/workspace'.length);
  else if (path.posix.isAbsolute(rel)) {
    throw new WorkspaceFileError('ESCAPE', `'${p}' is outside the workspace (use a path relative to /workspace)`);
  }
  const parts = rel.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new WorkspaceFileError('ESCAPE', `'${p}' contains '..'; paths must stay inside the workspace`);
  return parts;
}

function display(parts: string[]): string {
  return parts.length ? parts.join('/') : '.';
}

const fdPath = (fd: number, name?: string): string => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Why opening `name` in directory `dirFd` with O_NOFOLLOW failed, as a WorkspaceFileError. */
function explainOpenError(err: unknown, dirFd: number, name: string, shown: string): Error {
  const code = errno(err);
  if (code === 'ENOENT') return new WorkspaceFileError('NOT_FOUND', `'${shown}' does not exist`);
  if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENXIO') {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(fdPath(dirFd, name));
    } catch {
      // Gone by now: it was being renamed or swapped under us.
      return new WorkspaceFileError('NOT_FOUND', `'${shown}' disappeared while being opened`);
    }
    if (st.isSymbolicLink()) return new WorkspaceFileError('SYMLINK', `'${shown}' is a symlink; file tools never follow symlinks`);
    if (!st.isDirectory() && !st.isFile()) return new WorkspaceFileError('NOT_A_FILE', `'${shown}' is not a regular file`);
    if (code === 'ENOTDIR' && !st.isDirectory()) return new WorkspaceFileError('NOT_A_DIRECTORY', `'${shown}' is not a directory`);
    // A directory again: it was swapped for a symlink while we opened it.
    return new WorkspaceFileError('SYMLINK', `'${shown}' changed while being opened (a symlink swap?); refusing`);
  }
  // Errors from fs may come from another realm (e.g. a test VM), so no `instanceof Error` here.
  return typeof err === 'object' && err !== null && 'message' in err ? (err as Error) : new Error(String(err));
}

interface Opened {
  fd: number;
  root: string;
  created: boolean;
}

/**
 * Opens `parts` beneath `root`. Intermediate components must be real directories; with `createDirs` they
 * are created (owned by the sandbox uid). The final component is opened with `flags | O_NOFOLLOW`.
 */
function openBeneath(root: string, parts: string[], flags: number, opts: { createDirs?: boolean; mode?: number } = {}): Opened {
  const realRoot = fs.realpathSync(root);
  let dirFd = fs.openSync(realRoot, O_RDONLY | O_DIRECTORY);
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i];
      const shown = display(parts.slice(0, i + 1));
      let next: number;
      try {
        next = fs.openSync(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (err) {
        if (errno(err) !== 'ENOENT' || !opts.createDirs) throw explainOpenError(err, dirFd, name, shown);
        try {
          fs.mkdirSync(fdPath(dirFd, name), 0o755);
          giveToSandbox(fdPath(dirFd, name));
        } catch (mkErr) {
          if (errno(mkErr) !== 'EEXIST') throw mkErr;
        }
        try {
          next = fs.openSync(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch (err2) {
          throw explainOpenError(err2, dirFd, name, shown);
        }
      }
      fs.closeSync(dirFd);
      dirFd = next;
    }
    if (parts.length === 0) {
      if (flags & (O_WRONLY | O_CREAT)) throw new WorkspaceFileError('NOT_A_FILE', "'.' is the workspace directory");
      const fd = fs.openSync(fdPath(dirFd), flags);
      return { fd, root: realRoot, created: false };
    }
    const name = parts[parts.length - 1];
    let created = false;
    let fd: number;
    try {
      if (flags & O_CREAT) {
        // Try to create first, so we know whether the file is new (then it is handed to the sandbox uid).
        try {
          fd = fs.openSync(fdPath(dirFd, name), flags | O_EXCL | O_NOFOLLOW | O_NONBLOCK, opts.mode ?? 0o644);
          created = true;
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw err;
          fd = fs.openSync(fdPath(dirFd, name), (flags & ~O_CREAT) | O_NOFOLLOW | O_NONBLOCK);
        }
      } else {
        fd = fs.openSync(fdPath(dirFd, name), flags | O_NOFOLLOW | O_NONBLOCK);
      }
    } catch (err) {
      throw explainOpenError(err, dirFd, name, display(parts));
    }
    return { fd, root: realRoot, created };
  } finally {
    fs.closeSync(dirFd);
  }
}

/** Last guard: the kernel's view of what the fd is must be inside the workspace. */
function assertInside(o: Opened, shown: string): void {
  const real = fs.readlinkSync(fdPath(o.fd));
  if (real !== o.root && !real.startsWith(o.root + '/')) {
    throw new WorkspaceFileError('ESCAPE', `'${shown}' resolves outside the workspace`);
  }
}

function assertRegularSingleLink(st: fs.Stats, shown: string): void {
  if (!st.isFile()) throw new WorkspaceFileError('NOT_A_FILE', `'${shown}' is not a regular file`);
  // A second hard link may live outside the workspace (e.g. made before the workspace was bound).
  if (st.nlink > 1) throw new WorkspaceFileError('HARDLINK', `'${shown}' has ${st.nlink} hard links; refusing to use it`);
}

function giveToSandbox(p: string): void {
  if (process.getuid?.() === 0 && sandboxMode() !== 'none') fs.lchownSync(p, SANDBOX_UID, SANDBOX_GID);
}

function decode(buf: Buffer): { text: string; binary: boolean } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf), binary: false };
  } catch {
    return { text: new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(buf), binary: true };
  }
}

/**
 * The file tools work on the same size-limited filesystem as the sandbox (quota.ts): mounted here too,
 * so a workspace whose worker restarted shows its files, and write_file counts against the quota.
 */
async function workspaceFs(workspaceDir: string): Promise<void> {
  if (quotaAvailable().ok && fs.existsSync(workspaceDir)) {
    const abs = path.resolve(workspaceDir);
    await ensureWorkspaceFs(abs, workspaceQuota(abs) ?? DEFAULT_LIMITS.workspaceBytes);
  }
}

export async function readWorkspaceFile(
  workspaceDir: string,
  filePath: string,
  opts: { maxBytes?: number; encoding?: FileEncoding } = {},
): Promise<ReadFileResult> {
  const parts = workspacePathComponents(filePath);
  const shown = display(parts);
  const maxBytes = Math.min(opts.maxBytes ?? FILE_LIMITS.maxReadBytes, FILE_LIMITS.maxReadBytes);
  await workspaceFs(workspaceDir);
  const o = openBeneath(workspaceDir, parts, O_RDONLY);
  try {
    assertInside(o, shown);
    const st = fs.fstatSync(o.fd);
    assertRegularSingleLink(st, shown);
    const want = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const n = fs.readSync(o.fd, buf, got, want - got, got);
      if (n === 0) break;
      got += n;
    }
    const data = buf.subarray(0, got);
    const truncated = st.size > got;
    if (opts.encoding === 'base64') {
      return { path: shown, content: data.toString('base64'), encoding: 'base64', size: st.size, truncated, binary: decode(data).binary };
    }
    const { text, binary } = decode(data);
    return { path: shown, content: text, encoding: 'utf8', size: st.size, truncated, binary };
  } finally {
    fs.closeSync(o.fd);
  }
}

export async function writeWorkspaceFile(
  workspaceDir: string,
  filePath: string,
  content: string | Uint8Array,
  opts: { encoding?: FileEncoding; createDirs?: boolean; append?: boolean; maxBytes?: number } = {},
): Promise<WriteFileResult> {
  const parts = workspacePathComponents(filePath);
  const shown = display(parts);
  const data = typeof content === 'string' ? Buffer.from(content, opts.encoding === 'base64' ? 'base64' : 'utf8') : Buffer.from(content);
  const maxBytes = Math.min(opts.maxBytes ?? FILE_LIMITS.maxWriteBytes, FILE_LIMITS.maxWriteBytes);
  if (data.length > maxBytes) throw new WorkspaceFileError('TOO_LARGE', `content is ${data.length} bytes; the limit is ${maxBytes}`);
  const abs = prepareWorkspace(workspaceDir);
  await workspaceFs(abs);
  const quota = workspaceQuota(abs);
  const o = openBeneath(workspaceDir, parts, O_WRONLY | O_CREAT | (opts.append ? O_APPEND : 0), { createDirs: opts.createDirs ?? true });
  try {
    assertInside(o, shown);
    const st = fs.fstatSync(o.fd);
    assertRegularSingleLink(st, shown);
    if (o.created) fs.fchownSync(o.fd, ...sandboxOwner());
    // Refused while the workspace would be over its quota afterwards (like the next command run), but a
    // write that shrinks a file is allowed: that is how a full workspace is cleaned up from the tools.
    // The filesystem itself stops a write that does not fit (ENOSPC, reported as NO_SPACE below).
    if (quota !== null) {
      try {
        assertUnderQuota(abs, quota, data.length - (opts.append ? 0 : st.size));
      } catch (err) {
        throw new WorkspaceFileError('NO_SPACE', (err as Error).message);
      }
    }
    // Truncate only after the checks: opening with O_TRUNC would already have destroyed a refused target.
    if (!opts.append) fs.ftruncateSync(o.fd, 0);
    let off = 0;
    try {
      while (off < data.length) off += fs.writeSync(o.fd, data, off, data.length - off, opts.append ? null : off);
    } catch (err) {
      if (errno(err) !== 'ENOSPC' && errno(err) !== 'EDQUOT') throw err;
      if (!opts.append) fs.ftruncateSync(o.fd, 0);
      const u = workspaceUsage(abs);
      throw new WorkspaceFileError('NO_SPACE', `the workspace is full${u ? ` (${u.usedBytes} bytes used)` : ''}; '${shown}' was not written (delete files to make room)`);
    }
    return { path: shown, bytes: data.length, created: o.created };
  } finally {
    fs.closeSync(o.fd);
  }
}

function sandboxOwner(): [number, number] {
  return process.getuid?.() === 0 && sandboxMode() !== 'none' ? [SANDBOX_UID, SANDBOX_GID] : [process.getuid?.() ?? 0, process.getgid?.() ?? 0];
}

export async function listWorkspaceFiles(
  workspaceDir: string,
  dirPath = '.',
  opts: { recursive?: boolean; maxEntries?: number; maxDepth?: number } = {},
): Promise<ListFilesResult> {
  const parts = workspacePathComponents(dirPath);
  const maxEntries = Math.min(opts.maxEntries ?? FILE_LIMITS.maxListEntries, FILE_LIMITS.maxListEntries);
  const maxDepth = opts.recursive ? Math.min(opts.maxDepth ?? FILE_LIMITS.maxListDepth, FILE_LIMITS.maxListDepth) : 0;
  if (!fs.existsSync(workspaceDir)) {
    if (parts.length === 0) return { entries: [], truncated: false };
    throw new WorkspaceFileError('NOT_FOUND', `'${display(parts)}' does not exist`);
  }
  await workspaceFs(workspaceDir);
  const o = openBeneath(workspaceDir, parts, O_RDONLY | O_DIRECTORY);
  const entries: FileEntry[] = [];
  let truncated = false;
  const walk = (dirFd: number, prefix: string[], depth: number): void => {
    const names = fs.readdirSync(fdPath(dirFd)).sort();
    for (const name of names) {
      if (entries.length >= maxEntries) {
        truncated = true;
        return;
      }
      let st: fs.Stats;
      try {
        st = fs.lstatSync(fdPath(dirFd, name));
      } catch {
        continue; // removed meanwhile
      }
      const rel = [...prefix, name].join('/');
      const type: FileEntry['type'] = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
      entries.push({ path: rel, type, size: type === 'file' ? st.size : 0 });
      if (type === 'directory' && depth < maxDepth) {
        let sub: number;
        try {
          sub = fs.openSync(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        } catch {
          continue; // swapped for a symlink meanwhile: not followed
        }
        try {
          walk(sub, [...prefix, name], depth + 1);
        } finally {
          fs.closeSync(sub);
        }
      }
    }
  };
  try {
    assertInside(o, display(parts));
    walk(o.fd, parts, 0);
  } finally {
    fs.closeSync(o.fd);
  }
  return { entries, truncated };
}
