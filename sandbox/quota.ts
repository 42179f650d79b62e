/**
 * Per-workspace disk quota: every workspace is its own size-limited filesystem, an ext4 image file
 * loop-mounted on the workspace folder (once per workspace, then kept mounted: a launch pays nothing).
 *
 * Why a filesystem and not a walker: the kernel enforces it on every write, from the sandbox and from
 * the host-side file tools alike (write_file writes into the same filesystem), for runs of any length,
 * with deep paths, sparse files, fallocate and millions of empty files (inodes are fixed at mkfs), and
 * measuring it is one statfs() of the mount: no walk of a tree the sandbox controls, nothing followed.
 *
 * Layout: the image of `<parent>/<name>` is `<parent>/.quota/<name>.ext4` (root-only directory), with a
 * lock file next to it while a worker mounts it. The image is sparse: it takes host disk as it fills.
 * The filesystem's capacity is a little above the limit (ext4 metadata, so a workspace can really hold
 * `limit` bytes); the limit itself is checked with statfs while a run goes, at the end of every run, and
 * before the next run or write, which are refused while the workspace is over it.
 */
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { withPidLock } from './pid-lock';

const run = promisify(execFile);

/** Thrown when a workspace is over its disk limit (the message names the usage, the limit and the fix). */
export class WorkspaceQuotaError extends Error {
  constructor(
    readonly workspace: string,
    readonly usedBytes: number,
    readonly limitBytes: number,
  ) {
    super(
      `workspace ${workspace} uses ${mib(usedBytes)} of disk, over its limit of ${mib(limitBytes)}: ` +
        'commands are refused and files cannot grow until space is freed ' +
        '(overwrite large files with empty content using write_file - list_files shows sizes - or delete them on the host)',
    );
    this.name = 'WorkspaceQuotaError';
  }
}

const mib = (b: number): string => `${(b / (1024 * 1024)).toFixed(1)} MiB`;

const TOOLS = ['/usr/sbin/mkfs.ext4', '/sbin/mkfs.ext4', '/usr/bin/mount', '/bin/mount', '/usr/bin/umount', '/bin/umount'];

function tool(name: string): string | null {
  for (const t of TOOLS) if (path.basename(t) === name && isExec(t)) return t;
  return null;
}

function isExec(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export type QuotaCheck = { ok: true } | { ok: false; reason: string; fix: string };

let availability: QuotaCheck | undefined;

/** Whether per-workspace filesystems can be made here: root, e2fsprogs, mount, loop devices. */
export function quotaAvailable(): QuotaCheck {
  if (availability) return availability;
  if (process.getuid?.() !== 0) {
    availability = { ok: false, reason: 'the worker is not root, so it cannot mount a size-limited filesystem per workspace', fix: 'run the worker as root' };
  } else if (!tool('mkfs.ext4') || !tool('mount') || !tool('umount')) {
    availability = { ok: false, reason: 'mkfs.ext4 or mount is missing (needed for the per-workspace disk quota)', fix: 'apt-get install e2fsprogs mount' };
  } else if (!fs.existsSync('/dev/loop-control')) {
    availability = { ok: false, reason: 'no loop devices (/dev/loop-control), needed for the per-workspace disk quota', fix: 'modprobe loop (in a container: give it /dev/loop-control and /dev/loop*)' };
  } else {
    availability = { ok: true };
  }
  return availability;
}

/** Image size for a limit: ext4 keeps ~5-10% (inode tables, journal) of a small image for itself. */
function imageBytes(limitBytes: number): number {
  const raw = Math.ceil(limitBytes * 1.15) + 8 * 1024 * 1024;
  return Math.ceil(raw / 4096) * 4096;
}

interface Mounted {
  dev: number;
  image: string;
}
const mounted = new Map<string, Mounted>();
const pending = new Map<string, Promise<void>>();

function imagePath(abs: string): { dir: string; image: string; lock: string } {
  const dir = path.join(path.dirname(abs), '.quota');
  const base = path.basename(abs);
  return { dir, image: path.join(dir, `${base}.ext4`), lock: path.join(dir, `${base}.lock`) };
}

/** Mount points (decoded) from /proc/self/mountinfo. */
function mountPoints(): Array<{ point: string; source: string }> {
  const out: Array<{ point: string; source: string }> = [];
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-');
    out.push({ point: unescape(f[4]), source: unescape(f[dash + 2] ?? '') });
  }
  return out;
}

function readTrim(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The workspace is our mounted image (cheap check: the cached device number still matches). */
function stillMounted(abs: string): boolean {
  const m = mounted.get(abs);
  if (!m) return false;
  try {
    return fs.lstatSync(abs).dev === m.dev;
  } catch {
    return false;
  }
}

/**
 * Makes `abs` (an existing directory) the mount point of its own filesystem, sized for `limitBytes` when
 * it is created. Idempotent and cheap once mounted; concurrent calls share one mount.
 *
 * The size is fixed when the workspace is created: a later run with a larger workspaceBytes is still
 * bounded by it. (Online growth - resize2fs on the mounted loop device - fails with EPERM on the kernel
 * this was built on, and an offline resize is unsafe while a sandbox may still hold the filesystem in
 * its own mount namespace.)
 */
export async function ensureWorkspaceFs(abs: string, limitBytes: number): Promise<void> {
  if (stillMounted(abs)) return;
  let p = pending.get(abs);
  if (!p) {
    p = mountWorkspace(abs, limitBytes).finally(() => pending.delete(abs));
    pending.set(abs, p);
  }
  await p;
}

async function mountWorkspace(abs: string, limitBytes: number): Promise<void> {
  const { dir, image, lock } = imagePath(abs);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0) throw new Error(`${dir} must be a root-owned directory (it holds the workspace disk images)`);
  await withLock(lock, async () => {
    const existing = mountPoints().find((m) => m.point === abs);
    if (existing) {
      // Mounted by an earlier worker (or another one on this host): adopt it, if it really is this image.
      const backing = /^\/dev\/(loop\d+)$/.exec(existing.source);
      const file = backing ? readTrim(`/sys/block/${backing[1]}/loop/backing_file`) : null;
      if (file !== image) throw new Error(`workspace ${abs} is a mount point of ${existing.source}, not of its disk image ${image}; unmount it`);
      mounted.set(abs, { dev: fs.lstatSync(abs).dev, image });
      return;
    }
    const fresh = !fs.existsSync(image);
    if (fresh) {
      const tmp = `${image}.building`;
      fs.rmSync(tmp, { force: true });
      const fd = fs.openSync(tmp, fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        fs.ftruncateSync(fd, imageBytes(limitBytes));
      } finally {
        fs.closeSync(fd);
      }
      const owner = fs.lstatSync(abs);
      // -m 0: no blocks reserved for root (the host-side file tools run as root and must hit the same wall).
      // -b 4096: small images would get 1 KiB blocks, which the kernel refuses to resize online.
      await run(tool('mkfs.ext4') as string, ['-q', '-F', '-b', '4096', '-m', '0', '-E', `root_owner=${owner.uid}:${owner.gid}`, tmp]);
      fs.renameSync(tmp, image);
    }
    const hadContent = fs.readdirSync(abs).length > 0;
    if (hadContent) await migrate(abs, image);
    await run(tool('mount') as string, ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noatime', image, abs]);
    // A fresh filesystem's lost+found is not the agent's business (e2fsck recreates it when needed).
    if (fresh && !hadContent) fs.rmSync(path.join(abs, 'lost+found'), { recursive: true, force: true });
    const root = fs.lstatSync(abs);
    if ((root.mode & 0o777) !== 0o700) fs.chmodSync(abs, 0o700);
    mounted.set(abs, { dev: root.dev, image });
  });
}

/**
 * A workspace that existed before quotas: its files move into the new filesystem (copied as they are,
 * symlinks as symlinks), then the old copy under the mount point is removed.
 */
async function migrate(abs: string, image: string): Promise<void> {
  const stage = fs.mkdtempSync(path.join(path.dirname(image), 'migrate-'));
  try {
    await run(tool('mount') as string, ['-t', 'ext4', '-o', 'loop,nosuid,nodev', image, stage]);
    try {
      fs.rmSync(path.join(stage, 'lost+found'), { recursive: true, force: true });
      await run('/bin/cp', ['-a', '--no-dereference', `${abs}/.`, `${stage}/`]).catch((err: Error) => {
        throw new Error(`moving the existing workspace ${abs} into its size-limited filesystem failed (too big for its limit?): ${err.message.slice(0, 500)}`);
      });
    } finally {
      await run(tool('umount') as string, [stage]);
    }
    // GNU rm walks with openat: deep trees are no problem and no symlink is followed.
    for (const name of fs.readdirSync(abs)) await run('/bin/rm', ['-rf', '--one-file-system', '--', path.join(abs, name)]);
  } finally {
    fs.rmdirSync(stage);
  }
}

/** Bytes used in the workspace filesystem (data, directories, metadata of files), or null if it has none. */
export function workspaceUsage(abs: string): { usedBytes: number; freeBytes: number } | null {
  if (!stillMounted(abs)) return null;
  const s = fs.statfsSync(abs);
  return { usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
}

/** Throws WorkspaceQuotaError when the workspace is over `limitBytes` (or would be after `adding` bytes). */
export function assertUnderQuota(abs: string, limitBytes: number, adding = 0): void {
  let u = workspaceUsage(abs);
  if (!u || u.usedBytes + adding <= limitBytes) return;
  // ext4 returns the blocks of deleted files to the free count only when the journal commits (up to
  // 5 s later): commit now, so files just deleted to make room are not counted.
  spawnSync('/bin/sync', ['-f', abs]);
  u = workspaceUsage(abs);
  if (u && u.usedBytes + adding > limitBytes) throw new WorkspaceQuotaError(abs, u.usedBytes + adding, limitBytes);
}

/** The limit a workspace filesystem was made for (from its image size), for callers without limits. */
export function workspaceQuota(abs: string): number | null {
  const m = mounted.get(abs);
  if (!m) return null;
  return Math.floor((fs.statSync(m.image).size - 8 * 1024 * 1024) / 1.15);
}

/** Mounts of one image across worker processes take turns (a pid lock file beside it; 30 s at most). */
function withLock(lock: string, fn: () => Promise<void>): Promise<void> {
  return withPidLock(lock, { waitMs: 30_000, pollMs: 50, reclaimOwnPid: false, timeoutError: (owner) => new Error(`timed out waiting for ${lock} (held by pid ${owner})`) }, fn);
}

/**
 * Unmounts every workspace filesystem at or below `root` (for removing a workspace root, e.g. in tests
 * or when sessions are deleted). The images stay unless `removeImages`.
 */
export function releaseWorkspaceMounts(root: string, removeImages = false, opts: { ownOnly?: boolean } = {}): void {
  const abs = path.resolve(root);
  const points = mountPoints()
    .map((m) => m.point)
    .filter((p) => p === abs || p.startsWith(`${abs}/`))
    // ownOnly: only what this process mounted or adopted, and only if idle (another worker may be using
    // the rest; a busy one stays mounted and is adopted again by the next run).
    .filter((p) => !opts.ownOnly || mounted.has(p))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    const r = spawnSync(tool('umount') as string, [p]);
    // Still in use (a run in flight): detach now, the kernel frees it when the last user goes.
    if (r.status !== 0) {
      if (opts.ownOnly) continue;
      spawnSync(tool('umount') as string, ['-l', p]);
    }
    const m = mounted.get(p);
    mounted.delete(p);
    if (removeImages && m) fs.rmSync(m.image, { force: true });
  }
}

/**
 * Mounts the workspace's existing disk image if it has one and it is not mounted here yet (a worker that
 * restarted, or a host-side reader that runs before any tool of this process did). Never creates an image:
 * a workspace without one is read as the plain directory it is. For readers that must see the files the
 * sandbox sees (workspace snapshots), not the empty mount point under them.
 */
export async function mountExistingWorkspaceFs(abs: string): Promise<void> {
  const resolved = path.resolve(abs);
  if (stillMounted(resolved) || !fs.existsSync(imagePath(resolved).image)) return;
  const check = quotaAvailable();
  if (!check.ok) throw new Error(`workspace ${resolved} has a disk image that this worker cannot mount (${check.reason}): ${check.fix}`);
  await ensureWorkspaceFs(resolved, workspaceQuota(resolved) ?? 0);
}

/** Unmounts the workspace's filesystem (if mounted) and deletes its disk image: for removing a workspace. */
export function removeWorkspaceFs(abs: string): void {
  const resolved = path.resolve(abs);
  if (mountPoints().some((m) => m.point === resolved)) releaseWorkspaceMounts(resolved, true);
  const { image, lock } = imagePath(resolved);
  mounted.delete(resolved);
  fs.rmSync(image, { force: true });
  fs.rmSync(`${image}.building`, { force: true });
  fs.rmSync(lock, { force: true });
}
