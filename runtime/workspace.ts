/**
 * Session id → workspace folder. The folder is `<root>/<sha256(id) in hex>`: one-to-one (no two ids share
 * a folder, unlike character replacement), never `.`/`..`, never containing `/`, whatever the id.
 *
 * The folder is opened, not resolved: the root is the operator's (trusted, resolved once), but the folder
 * below it must be a real directory, a direct child of the root, reached without following a symlink
 * (O_NOFOLLOW) and checked to be the same inode as the path names. Ownership is handed to the sandbox
 * uid only for a folder this call just created (mkdir succeeded): the runtime never chowns or chmods a
 * folder that was already there, so a planted folder or link cannot make it hand out something else.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeWorkspaceFs } from '../sandbox/quota';
import { SANDBOX_GID, SANDBOX_UID, sandboxMode } from '../sandbox/sandbox';
import { assertSessionId } from './session-id';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const HEX_NAME = /^[0-9a-f]{64}$/;

export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

/** The folder name of a session's workspace: sha256 of the id, hex (64 characters). */
export function workspaceFolderName(sessionId: string): string {
  assertSessionId(sessionId);
  return createHash('sha256').update(sessionId, 'utf8').digest('hex');
}

/** The folder under the workspace root that holds the workspace snapshots (runtime/workspace-snapshots.ts). */
export const SNAPSHOTS_DIR = '.snapshots';

/** Where a session's workspace lives (does not touch the disk). */
export function workspacePath(root: string, sessionId: string): string {
  return path.join(path.resolve(root), workspaceFolderName(sessionId));
}

export interface OpenedWorkspace {
  dir: string;
  /** This call created the folder (and, as root with bubblewrap, handed it to the sandbox uid). */
  created: boolean;
}

/**
 * Creates or opens the workspace of `sessionId` under `root`. Throws WorkspaceError (naming the path and
 * the fix) when the root is unusable or the folder is not a plain directory the runtime may use.
 */
export function openSessionWorkspace(root: string, sessionId: string): OpenedWorkspace {
  const name = workspaceFolderName(sessionId);
  let realRoot: string;
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o711 });
    // The root is configuration (WORKSPACE_ROOT): the operator may make it a symlink, so resolve it once.
    realRoot = fs.realpathSync(root);
    fs.accessSync(realRoot, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new WorkspaceError(
      `workspace root ${path.resolve(root)} is not usable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        'set WORKSPACE_ROOT to a directory the worker can create and write',
    );
  }
  const dir = path.join(realRoot, name);
  if (!HEX_NAME.test(name) || path.dirname(dir) !== realRoot) throw new WorkspaceError(`workspace ${dir} is not a direct child of ${realRoot}`);

  let created = false;
  try {
    fs.mkdirSync(dir, { mode: 0o700 }); // not recursive: only this one folder, and EEXIST when it is there
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new WorkspaceError(`cannot create workspace ${dir} (${(err as NodeJS.ErrnoException).code}): check that ${realRoot} is writable by the worker`);
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR on Linux: lstat says which it was.
    const link = ((): boolean => {
      try {
        return fs.lstatSync(dir).isSymbolicLink();
      } catch {
        return false;
      }
    })();
    const what = link || code === 'ELOOP' ? 'is a symlink' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be opened (${code})`;
    throw new WorkspaceError(`workspace ${dir} ${what}; the runtime never follows or repairs it: remove it to let the session start afresh`);
  }
  try {
    const st = fs.fstatSync(fd);
    const named = fs.lstatSync(dir);
    if (!st.isDirectory() || st.ino !== named.ino || st.dev !== named.dev) {
      throw new WorkspaceError(`workspace ${dir} changed while it was opened; refusing it`);
    }
    // Any sandboxed mode (degraded ones included) runs tools as the sandbox uid; only SANDBOX=none keeps root.
    if (created && process.getuid?.() === 0 && sandboxMode() !== 'none') {
      // Through the fd, not the path: exactly the folder mkdir just made.
      fs.fchownSync(fd, SANDBOX_UID, SANDBOX_GID);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { dir, created };
}

/**
 * Removes a session's workspace for good: unmounts its size-limited filesystem and deletes its disk image
 * (sandbox/quota.ts), deletes the folder, and deletes its workspace snapshots, leaving a `removed` note in
 * their place (so forks of it made later start from an empty workspace and say why). The runtime never calls this by itself: workspaces and their
 * snapshots stay until an operator removes them (README, "Forks"). Forks made earlier keep their own copies.
 */
export function removeSessionWorkspace(root: string, sessionId: string): void {
  const dir = workspacePath(root, sessionId);
  removeWorkspaceFs(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const store = path.join(path.resolve(root), SNAPSHOTS_DIR, workspaceFolderName(sessionId));
  fs.rmSync(store, { recursive: true, force: true });
  // A tombstone, so a later fork of the session says its workspace is gone instead of finding it "never made".
  fs.mkdirSync(store, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(store, 'removed'), `removed ${new Date().toISOString()}\n`, { mode: 0o600 });
}
