/** The workspace folder a run binds at /workspace: created for, and owned by, the sandbox uid. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot } from './host';
import { sandboxMode } from './mode';
import { SANDBOX_GID, SANDBOX_UID } from './types';

/**
 * Creates the workspace if needed and hands it to the sandbox uid. Refuses a symlink or non-directory.
 * Only a folder this call created is chowned/chmodded: an existing folder that the sandbox uid does not
 * own is refused, never "repaired" (it may be anything a wrong path points at, e.g. the data dir).
 */
export function prepareWorkspace(dir: string): string {
  const abs = path.resolve(dir);
  const created = fs.mkdirSync(abs, { recursive: true, mode: 0o700 }) !== undefined;
  const st = fs.lstatSync(abs);
  if (!st.isDirectory()) throw new Error(`workspace ${abs} is not a directory (symlinks are refused)`);
  if (isRoot && sandboxMode() !== 'none' && (st.uid !== SANDBOX_UID || st.gid !== SANDBOX_GID)) {
    if (!created) {
      throw new Error(`workspace ${abs} exists but is owned by ${st.uid}:${st.gid}, not the sandbox uid ${SANDBOX_UID}: the runtime only hands folders it created to the sandbox; remove it or use another workspace`);
    }
    fs.lchownSync(abs, SANDBOX_UID, SANDBOX_GID);
  }
  // Only its owner (the sandbox uid) needs it; other host users have no business reading a session's files.
  if (created && (st.mode & 0o777) !== 0o700) fs.chmodSync(abs, 0o700);
  return abs;
}
