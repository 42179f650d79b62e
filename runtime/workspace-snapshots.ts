/**
 * Workspace snapshots: a session's workspace as it was after each of its tool calls, so that a fork at
 * seq N starts with the parent's workspace as it was at N, not as it is when the fork is made
 * (activities/fork.ts). Recorded by the tool activity, after the tool ran (activities/index.ts); nothing of
 * it goes through the workflow or its history.
 *
 * Content-addressed, one store per session beside the workspaces (root-only, never bound into a sandbox):
 *
 *   <WORKSPACE_ROOT>/.snapshots/<the workspace's folder name>/
 *     log                  one JSON line per snapshotted tool call: {"seq":N,"m":"<manifest id>","b":<bytes
 *                          the store holds>} or {"seq":N,"failed":"<why>"}; a fork's first line is its restored start
 *     manifests/<id>.json  a tree: path, type, mode, owner, mtime, size and sha256 of every file; id = its sha256
 *     blobs/<h0h1>/<h>     every distinct file content once (read-only copies: reflinks where the
 *                          filesystem has them, e.g. btrfs/XFS; plain copies elsewhere and out of a quota image)
 *
 * A tool call that changed nothing adds one log line (its tree hashes to a manifest that exists); a file
 * whose inode, size, mtime and ctime are those of the last walk is not read again (per-process cache; a
 * file changed within ~100 ms of being read is read again, see racyNs).
 * Bounded per session (SnapshotLimits): at most `maxSnapshots` distinct trees and `maxBytes` of content;
 * past either, the trees whose newest use is oldest are evicted (down to 90%, so eviction runs rarely)
 * and blobs no kept tree uses are deleted. The newest tree is never evicted. A workspace with more than
 * `maxFiles` entries, or more than `maxBytes` of file content, is not snapshotted: its log line says so.
 *
 * What a snapshot holds: regular files (content, mode without setuid/setgid, owner, mtime), directories
 * (mode, owner) and symlinks (target, not followed). Not held: FIFOs, sockets, devices and names that are
 * not UTF-8 (counted in the manifest), hard links (restored as separate files), extended attributes.
 *
 * The walk never follows a symlink: every directory is opened with O_NOFOLLOW relative to its parent's fd
 * (the sandbox may still be changing the tree: parallel calls of one session). A tree changed during the
 * walk is recorded as the walk saw it.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { withPidLock } from '../sandbox/pid-lock';
import { mountExistingWorkspaceFs } from '../sandbox/quota';
import type { ToolDefinition } from './agent';
import { SNAPSHOTS_DIR, workspaceFolderName, workspacePath } from './workspace';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const readFd = promisify(fs.read);

export interface SnapshotLimits {
  /** Distinct workspace trees kept per session (a tool call that changes nothing adds none). */
  maxSnapshots: number;
  /** Bytes of file content kept per session (each distinct content counted once); a larger workspace is not snapshotted. */
  maxBytes: number;
  /** Entries (files, directories, symlinks) a workspace may have and still be snapshotted. */
  maxFiles: number;
}

export const DEFAULT_SNAPSHOT_LIMITS: Readonly<SnapshotLimits> = Object.freeze({ maxSnapshots: 100, maxBytes: 2 * 1024 ** 3, maxFiles: 20_000 });

export { SNAPSHOTS_DIR };
const MAX_DEPTH = 64;
const MAX_PATH_BYTES = 3072;
/** Files up to this size are read once into memory (hash and blob from the same bytes). */
const SMALL_FILE = 256 * 1024;
const LOCK_WAIT_MS = 60_000;
/** Sessions whose last walk is remembered in this process (stat cache). */
const STAT_CACHE_SESSIONS = 64;
/**
 * A file whose ctime is this close to the moment it was read may change again within the same timestamp
 * tick (ext4, XFS, btrfs and tmpfs stamp with the kernel's coarse clock: a few ms), so the cache does not
 * vouch for it: it is read again next time. A ctime of a whole second suggests a filesystem with 1-2 s
 * timestamps: 2 s then.
 */
const racyNs = (ctimeNs: bigint): bigint => (ctimeNs % 1_000_000_000n === 0n ? 2_000_000_000n : 100_000_000n);
/** Eviction goes down to this fraction of a limit, so it does not run again on the next snapshot. */
const EVICT_TO = 0.9;
const NOTE_SEQS = 5;
const OPENED_KEPT = 4096;

export type EntryType = 'd' | 'f' | 'l';
export interface ManifestEntry {
  /** Path relative to the workspace, '/'-separated. */
  p: string;
  t: EntryType;
  /** Permission bits (setuid/setgid dropped). */
  m: number;
  u: number;
  g: number;
  /** Files: mtime in ms, size, sha256 of the content. */
  mt?: number;
  s?: number;
  h?: string;
  /** Symlinks: the target, as written. */
  l?: string;
}
export interface Manifest {
  v: 1;
  entries: ManifestEntry[];
  /** Entries not held: FIFOs, sockets, devices, names that are not UTF-8. */
  skipped: number;
}

type LogLine =
  | { seq: number; m: string; b?: number; from?: { session: string; seq: number | null }; inexact?: string }
  | { seq: number; failed: string; b?: number }
  /** The call did not ask for the workspace, so did not change it. */
  | { seq: number; same: true };

export type RecordOutcome =
  | { kind: 'snapshot'; manifest: string; changed: boolean; files: number; bytes: number; newBytes: number; evicted: number }
  | { kind: 'failed'; reason: string }
  /** `ifMissing` and this seq has a record already. */
  | { kind: 'exists' };

/** Which snapshot stands for a session's workspace at a seq. */
export type SnapshotChoice =
  | { kind: 'snapshot'; session: string; seq: number; manifest: string; notes: string[] }
  /** No tool had changed the workspace yet: the empty workspace a session starts with. */
  | { kind: 'initial'; session: string; notes: string[] }
  /** The session has no snapshot store (it ran before snapshots, or with them off). */
  | { kind: 'unavailable'; session: string; notes: string[] };

export interface RestoreOutcome {
  /** Everything restored: files, directories and symlinks. */
  entries: number;
  files: number;
  bytes: number;
}

export type ParentOf = (sessionId: string) => Promise<{ parentId: string; beforeSeq: number } | undefined>;

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

interface CacheEntry {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  hash: string;
}

interface Found {
  parts: string[];
  entry: ManifestEntry;
  st?: fs.BigIntStats;
}

const fdPath = (fd: number, name?: string): string => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`);
const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;
const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const HEX64 = /^[0-9a-f]{64}$/;
const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Whether a call of this tool is followed by a snapshot: every tool the runtime runs as an activity except
 * those declared `effects: 'read'` (their calls must not change the workspace). Tools declared 'none' are
 * included: the sandbox tools (`shell`, `write_file`...) change only the workspace, and that is the point.
 */
export function snapshotsFollow(tool: Pick<ToolDefinition, 'effects' | 'builtin'>): boolean {
  return tool.effects !== 'read' && !tool.builtin;
}

/** Checks limits (from configuration or options); the error names the setting and what it must be. */
export function snapshotLimits(partial: Partial<SnapshotLimits> = {}): SnapshotLimits {
  const limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as SnapshotLimits;
  const names: Record<keyof SnapshotLimits, string> = { maxSnapshots: 'WORKSPACE_SNAPSHOT_MAX_COUNT', maxBytes: 'WORKSPACE_SNAPSHOT_MAX_BYTES', maxFiles: 'WORKSPACE_SNAPSHOT_MAX_FILES' };
  for (const key of Object.keys(names) as Array<keyof SnapshotLimits>) {
    const v = limits[key];
    if (!Number.isSafeInteger(v) || v < 1) throw new SnapshotError(`workspace snapshot limit ${key} (${names[key]}) must be a positive integer, got ${String(v)}`);
  }
  return limits;
}

export class WorkspaceSnapshots {
  readonly limits: SnapshotLimits;
  private readonly root: string;
  private readonly caches = new Map<string, Map<string, CacheEntry>>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Stores this process has created or checked (their directories need not be made again). */
  private readonly opened = new Set<string>();

  constructor(workspaceRoot: string, limits: Partial<SnapshotLimits> = {}) {
    this.root = path.resolve(workspaceRoot);
    this.limits = snapshotLimits(limits);
  }

  /** The snapshot store of a session (does not touch the disk). */
  storeDir(sessionId: string): string {
    return path.join(this.root, SNAPSHOTS_DIR, workspaceFolderName(sessionId));
  }

  /**
   * Records the session's workspace as it is now, as its state after entry `seq`. Never throws for a
   * workspace it cannot snapshot (too large, unreadable, the store full or broken): the log says why, and a
   * fork at that seq falls back to the nearest earlier snapshot and says so. `ifMissing`: only when `seq`
   * has no record yet (a retried tool activity whose first attempt stored the result).
   */
  async record(sessionId: string, seq: number, opts: { ifMissing?: boolean } = {}): Promise<RecordOutcome> {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new SnapshotError(`snapshot seq must be an integer >= 0, got ${seq}`);
    const store = this.openStore(sessionId);
    return this.locked(store, async () => {
      if (opts.ifMissing && readLog(store).some((l) => l.seq === seq)) return { kind: 'exists' } as const;
      const added = { bytes: 0 };
      let outcome: RecordOutcome;
      try {
        outcome = await this.capture(sessionId, store, added);
      } catch (err) {
        outcome = { kind: 'failed', reason: err instanceof SnapshotError ? err.message : `snapshot failed: ${(err as Error).message}` };
      }
      // The bytes the store holds ride on the log line (no separate file to rewrite on every snapshot).
      let bytes = storeBytes(store) + added.bytes;
      if (outcome.kind === 'snapshot' && outcome.changed) ({ evicted: outcome.evicted, bytes } = this.enforceBounds(store, outcome.manifest, bytes));
      appendLog(store, outcome.kind === 'snapshot' ? { seq, m: outcome.manifest, b: bytes } : { seq, failed: (outcome as { reason: string }).reason.slice(0, 500), b: bytes });
      return outcome;
    });
  }

  /**
   * The snapshot that stands for `sessionId`'s workspace after entry `atSeq`: the newest usable one at or
   * before it. A fork's seqs before its own fork point are its parent's (followed through `parentOf`).
   * `toolSeqs` are the seqs of the tool calls up to `atSeq` that should have a record (snapshotted tools
   * whose result is stored); one without a usable record makes the choice inexact, and the notes say so.
   */
  async resolve(sessionId: string, atSeq: number, toolSeqs: readonly number[], parentOf: ParentOf): Promise<SnapshotChoice> {
    const link = await parentOf(sessionId);
    if (link && atSeq < link.beforeSeq - 1) return this.resolve(link.parentId, atSeq, toolSeqs, parentOf);
    const floor = link ? link.beforeSeq - 1 : -1;
    const store = this.storeDir(sessionId);
    const owned = toolSeqs.filter((s) => s > floor && s <= atSeq);
    if (!fs.existsSync(path.join(store, 'log'))) {
      // No tool call by then: the workspace was as the session started, empty.
      if (!link && owned.length === 0) return { kind: 'initial', session: sessionId, notes: [] };
      const removed = readRemoved(store);
      if (removed) return { kind: 'unavailable', session: sessionId, notes: [`the workspace and workspace snapshots of ${sessionId} were removed (${removed})`] };
      // No tool call ever opened the workspace (it is opened on first use; the first snapshot after that makes the store).
      if (!link && !fs.existsSync(workspacePath(this.root, sessionId))) return { kind: 'initial', session: sessionId, notes: [] };
      return {
        kind: 'unavailable',
        session: sessionId,
        notes: [`session ${sessionId} has no workspace snapshots (it ran before they existed, or with WORKSPACE_SNAPSHOTS=off)`],
      };
    }
    const bySeq = new Map<number, LogLine>();
    for (const line of readLog(store)) {
      // The last line of a seq wins (a retried call), but 'did not touch it' never hides a snapshot of that seq.
      const prev = bySeq.get(line.seq);
      if ('same' in line && prev && !('same' in prev)) continue;
      bySeq.set(line.seq, line);
    }
    const candidates = [...bySeq.values()].filter((l): l is Exclude<LogLine, { same: true }> => l.seq <= atSeq && !('same' in l)).sort((a, b) => b.seq - a.seq);
    const notes: string[] = [];
    const unusable: number[] = [];
    for (const c of candidates) {
      if ('failed' in c) {
        unusable.push(c.seq);
        if (notes.length < NOTE_SEQS) notes.push(`seq ${c.seq}: ${c.failed}`);
        continue;
      }
      if (!fs.existsSync(manifestPath(store, c.m))) {
        unusable.push(c.seq);
        if (notes.length < NOTE_SEQS) notes.push(`seq ${c.seq}: its snapshot is no longer stored (evicted by the per-session snapshot limits)`);
        continue;
      }
      const missing = owned.filter((s) => s > c.seq && !bySeq.has(s));
      if (missing.length) notes.push(`no snapshot was recorded for the tool call(s) at ${seqList(missing)}`);
      if (c.inexact) notes.push(c.inexact);
      return { kind: 'snapshot', session: sessionId, seq: c.seq, manifest: c.m, notes: fallbackNotes(notes, c.seq, atSeq, unusable.length + missing.length) };
    }
    const missing = owned.filter((s) => !bySeq.has(s));
    if (missing.length) notes.push(`no snapshot was recorded for the tool call(s) at ${seqList(missing)}`);
    if (link) {
      // A fork whose own first snapshot (its restored start) is gone: the state it was forked from.
      const start = await this.resolve(link.parentId, link.beforeSeq - 1, toolSeqs, parentOf);
      return { ...start, notes: [...notes, `fork ${sessionId} has no usable snapshot of its own at or before seq ${atSeq}`, ...start.notes] };
    }
    return { kind: 'initial', session: sessionId, notes: notes.length ? [...notes, `restored the empty workspace the session started with`] : [] };
  }

  /**
   * Makes `targetDir` (a fork's new workspace) the tree of `choice` and records it as the first snapshot of
   * `targetSessionId` at `atSeq` (so forks of the fork find it). Whatever `targetDir` held is removed first:
   * a retried fork activity starts over. The source store is locked while it is read (no eviction under it).
   */
  async restore(choice: SnapshotChoice & { kind: 'snapshot' | 'initial' }, targetSessionId: string, targetDir: string, atSeq: number): Promise<RestoreOutcome> {
    await mountExistingWorkspaceFs(targetDir);
    clearDir(targetDir);
    const inexact = choice.notes.length ? bounded(choice.notes.join('; ')) : undefined;
    const target = this.openStore(targetSessionId);
    if (choice.kind === 'initial') {
      const empty: Manifest = { v: 1, entries: [], skipped: 0 };
      await this.locked(target, async () => {
        const id = writeManifest(target, empty);
        appendLog(target, { seq: atSeq, m: id, b: storeBytes(target), from: { session: choice.session, seq: null }, ...(inexact ? { inexact } : {}) });
      });
      return { entries: 0, files: 0, bytes: 0 };
    }
    const source = this.storeDir(choice.session);
    return this.locked(source, async () => {
      const manifest = loadManifest(source, choice.manifest);
      const out = await materialize(manifest, source, targetDir);
      await this.locked(target, async () => {
        let added = 0;
        for (const e of manifest.entries) if (e.t === 'f') added += linkBlob(source, target, e.h!, e.s ?? 0);
        const id = writeManifest(target, manifest);
        appendLog(target, { seq: atSeq, m: id, b: storeBytes(target) + added, from: { session: choice.session, seq: choice.seq }, ...(inexact ? { inexact } : {}) });
      });
      return out;
    });
  }

  /**
   * Records the fork's workspace as it is now (after a copy of its parent's current workspace, when the
   * parent has no snapshots) as its first snapshot at `atSeq`, marked inexact with `note`.
   */
  async recordStart(sessionId: string, atSeq: number, note: string): Promise<RecordOutcome> {
    const store = this.openStore(sessionId);
    return this.locked(store, async () => {
      const added = { bytes: 0 };
      const outcome = await this.capture(sessionId, store, added).catch((err: Error): RecordOutcome => ({ kind: 'failed', reason: err.message }));
      const b = storeBytes(store) + added.bytes;
      appendLog(store, outcome.kind === 'snapshot' ? { seq: atSeq, m: outcome.manifest, b, inexact: bounded(note) } : { seq: atSeq, failed: (outcome as { reason: string }).reason.slice(0, 500), b });
      return outcome;
    });
  }

  /**
   * Notes that the call at `seq` never asked for the workspace (ctx.workspaceDir), so did not change it: one
   * log line, no walk, no lock (an O_APPEND line this short lands whole). Nothing at all while the session
   * has no store: no tool of it has opened its workspace yet, and a fork sees the workspace was never made.
   */
  untouched(sessionId: string, seq: number): void {
    const store = this.storeDir(sessionId);
    if (fs.existsSync(path.join(store, 'log'))) appendLog(store, { seq, same: true });
  }

  /** What a session's store holds: trees, bytes of content, log lines (for tests, the bench and operators). */
  usage(sessionId: string): { snapshots: number; bytes: number; records: number } {
    const store = this.storeDir(sessionId);
    if (!fs.existsSync(store)) return { snapshots: 0, bytes: 0, records: 0 };
    return { snapshots: listManifests(store).length, bytes: storeBytes(store), records: readLog(store).length };
  }

  // --- capture ---------------------------------------------------------------------------------------

  /** Walks the workspace and stores what is new; `added.bytes` counts new content (also if it then fails). */
  private async capture(sessionId: string, store: string, added: { bytes: number }): Promise<RecordOutcome & { kind: 'snapshot' }> {
    const ws = workspacePath(this.root, sessionId);
    let found: Found[] = [];
    let skipped = 0;
    let rootFd: number | undefined;
    if (fs.existsSync(ws)) {
      // A size-limited workspace is its own filesystem: read what is mounted there, never the empty mount point.
      await mountExistingWorkspaceFs(ws);
      rootFd = fs.openSync(ws, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    }
    try {
      if (rootFd !== undefined) ({ found, skipped } = await this.walk(rootFd));
      const fileBytes = found.reduce((n, f) => n + (f.entry.s ?? 0), 0);
      if (fileBytes > this.limits.maxBytes) {
        throw new SnapshotError(`not snapshotted: the workspace holds ${mib(fileBytes)} of files, more than the per-session snapshot limit of ${mib(this.limits.maxBytes)} (WORKSPACE_SNAPSHOT_MAX_BYTES)`);
      }
      const cache = this.cacheOf(sessionId);
      const seen = new Map<string, CacheEntry>();
      let newBytes = 0;
      for (const f of found) {
        if (f.entry.t !== 'f') continue;
        const st = f.st!;
        const hit = cache.get(f.entry.p);
        if (hit && hit.ino === st.ino && hit.size === st.size && hit.mtimeNs === st.mtimeNs && hit.ctimeNs === st.ctimeNs && fs.existsSync(blobPath(store, hit.hash))) {
          f.entry.h = hit.hash;
          seen.set(f.entry.p, hit);
          continue;
        }
        const readAt = BigInt(Date.now()) * 1_000_000n;
        const stored = await storeFile(store, rootFd!, f.parts);
        if (!stored) continue; // gone or swapped for something else since the walk: as if it were not there
        Object.assign(f.entry, { h: stored.hash, s: stored.size, mt: Number(stored.st.mtimeNs / 1_000_000n), m: Number(stored.st.mode & 0o1777n) });
        newBytes += stored.added;
        added.bytes += stored.added;
        if (stored.stable && stored.st.ctimeNs < readAt - racyNs(stored.st.ctimeNs)) {
          seen.set(f.entry.p, { ino: stored.st.ino, size: stored.st.size, mtimeNs: stored.st.mtimeNs, ctimeNs: stored.st.ctimeNs, hash: stored.hash });
        }
      }
      this.caches.delete(sessionId); // re-inserted: most recently used last
      this.caches.set(sessionId, seen);
      while (this.caches.size > STAT_CACHE_SESSIONS) this.caches.delete(this.caches.keys().next().value as string);
      const entries = found.filter((f) => f.entry.t !== 'f' || f.entry.h).map((f) => f.entry);
      const manifest: Manifest = { v: 1, entries, skipped };
      const existed = fs.existsSync(manifestPath(store, manifestId(manifest)));
      const id = writeManifest(store, manifest);
      const bytes = entries.reduce((n, e) => n + (e.s ?? 0), 0);
      return { kind: 'snapshot', manifest: id, changed: !existed, files: entries.filter((e) => e.t === 'f').length, bytes, newBytes, evicted: 0 };
    } finally {
      if (rootFd !== undefined) fs.closeSync(rootFd);
    }
  }

  private async walk(rootFd: number): Promise<{ found: Found[]; skipped: number }> {
    const found: Found[] = [];
    let skipped = 0;
    let sinceYield = 0;
    const visit = async (dirFd: number, prefix: string[], depth: number): Promise<void> => {
      const names = (fs.readdirSync(fdPath(dirFd), { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare);
      for (const raw of names) {
        const name = raw.toString('utf8');
        if (!Buffer.from(name, 'utf8').equals(raw)) {
          skipped++;
          continue;
        }
        let st: fs.BigIntStats;
        try {
          st = fs.lstatSync(fdPath(dirFd, name), { bigint: true });
        } catch (err) {
          if (errno(err) === 'ENOENT') continue; // removed meanwhile
          throw err;
        }
        const parts = [...prefix, name];
        const p = parts.join('/');
        if (Buffer.byteLength(p) > MAX_PATH_BYTES) throw new SnapshotError(`not snapshotted: '${p.slice(0, 80)}...' is longer than ${MAX_PATH_BYTES} bytes`);
        if (found.length >= this.limits.maxFiles) {
          throw new SnapshotError(`not snapshotted: the workspace has more than ${this.limits.maxFiles} entries (WORKSPACE_SNAPSHOT_MAX_FILES)`);
        }
        const base = { p, m: Number(st.mode & 0o1777n), u: Number(st.uid), g: Number(st.gid) };
        if (st.isDirectory()) {
          if (depth + 1 > MAX_DEPTH) throw new SnapshotError(`not snapshotted: '${p.slice(0, 80)}' is nested deeper than ${MAX_DEPTH} directories`);
          found.push({ parts, entry: { ...base, t: 'd' } });
          let sub: number;
          try {
            sub = fs.openSync(fdPath(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
          } catch (err) {
            if (errno(err) === 'ENOENT' || errno(err) === 'ELOOP' || errno(err) === 'ENOTDIR') continue; // changed meanwhile: not followed
            throw err;
          }
          try {
            await visit(sub, parts, depth + 1);
          } finally {
            fs.closeSync(sub);
          }
        } else if (st.isFile()) {
          found.push({ parts, entry: { ...base, t: 'f', s: Number(st.size), mt: Number(st.mtimeNs / 1_000_000n) }, st });
        } else if (st.isSymbolicLink()) {
          let target: string;
          try {
            target = fs.readlinkSync(fdPath(dirFd, name));
          } catch (err) {
            if (errno(err) === 'ENOENT' || errno(err) === 'EINVAL') continue;
            throw err;
          }
          found.push({ parts, entry: { ...base, t: 'l', l: target } });
        } else {
          skipped++;
        }
        if (++sinceYield >= 500) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r)); // a big tree must not hold the worker's event loop
        }
      }
    };
    await visit(rootFd, [], 0);
    found.sort((a, b) => (a.entry.p < b.entry.p ? -1 : a.entry.p > b.entry.p ? 1 : 0));
    return { found, skipped };
  }

  // --- bounds ----------------------------------------------------------------------------------------

  /**
   * Evicts the trees whose newest use is oldest until both limits hold (to 90%): how many, and the bytes
   * the store then holds (`bytes`: what it holds now, with `newest`, whose log line is not written yet).
   */
  private enforceBounds(store: string, newest: string, bytes: number): { evicted: number; bytes: number } {
    const ids = listManifests(store);
    if (ids.length <= this.limits.maxSnapshots && bytes <= this.limits.maxBytes) return { evicted: 0, bytes };
    const lastUse = new Map<string, number>();
    let newestSeq = -1;
    let newestBySeq: string | undefined;
    for (const l of readLog(store)) {
      if (!('m' in l)) continue;
      lastUse.set(l.m, Math.max(lastUse.get(l.m) ?? -1, l.seq));
      if (l.seq >= newestSeq) [newestSeq, newestBySeq] = [l.seq, l.m];
    }
    const keep = new Set([newest, ...(newestBySeq ? [newestBySeq] : [])]);
    const files = new Map<string, Map<string, number>>();
    for (const id of ids) {
      try {
        files.set(id, new Map(loadManifest(store, id).entries.filter((e) => e.t === 'f').map((e) => [e.h!, e.s ?? 0])));
      } catch {
        files.set(id, new Map()); // unreadable: evicted first
        lastUse.set(id, -2);
      }
    }
    const bytesOf = (kept: Iterable<string>): number => {
      const live = new Map<string, number>();
      for (const id of kept) for (const [h, s] of files.get(id) ?? []) live.set(h, s);
      let n = 0;
      for (const s of live.values()) n += s;
      return n;
    };
    const kept = new Set(ids);
    const order = ids.filter((id) => !keep.has(id)).sort((a, b) => (lastUse.get(a) ?? -1) - (lastUse.get(b) ?? -1));
    const countTarget = Math.max(1, Math.floor(this.limits.maxSnapshots * EVICT_TO));
    const bytesTarget = Math.floor(this.limits.maxBytes * EVICT_TO);
    let held = bytesOf(kept);
    const evicted: string[] = [];
    for (const id of order) {
      if (kept.size <= countTarget && held <= bytesTarget) break;
      kept.delete(id);
      evicted.push(id);
      held = bytesOf(kept);
    }
    for (const id of evicted) fs.rmSync(manifestPath(store, id), { force: true });
    const live = new Set<string>();
    for (const id of kept) for (const h of files.get(id)?.keys() ?? []) live.add(h);
    const blobs = path.join(store, 'blobs');
    for (const fan of fs.existsSync(blobs) ? fs.readdirSync(blobs) : []) {
      for (const h of fs.readdirSync(path.join(blobs, fan))) if (!live.has(h)) fs.rmSync(path.join(blobs, fan, h), { force: true });
    }
    return { evicted: evicted.length, bytes: held };
  }

  // --- plumbing --------------------------------------------------------------------------------------

  private cacheOf(sessionId: string): Map<string, CacheEntry> {
    return this.caches.get(sessionId) ?? new Map();
  }

  /** Creates the session's store (root-only directories) and returns its path. */
  private openStore(sessionId: string): string {
    const known = this.storeDir(sessionId);
    if (this.opened.has(known) && fs.existsSync(path.join(known, 'tmp'))) return known; // made earlier by this process
    const top = path.join(this.root, SNAPSHOTS_DIR);
    fs.mkdirSync(top, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(top);
    if (!st.isDirectory()) throw new SnapshotError(`${top} is not a directory (it holds workspace snapshots): remove it`);
    if (isRoot() && (st.uid !== 0 || (st.mode & 0o077) !== 0)) {
      throw new SnapshotError(`${top} must be a root-only directory (owner 0, mode 0700; it holds copies of every workspace): fix its owner and mode or remove it`);
    }
    const store = this.storeDir(sessionId);
    for (const sub of ['', 'manifests', 'blobs', 'tmp']) fs.mkdirSync(path.join(store, sub), { recursive: true, mode: 0o700 });
    this.opened.add(store);
    if (this.opened.size > OPENED_KEPT) this.opened.delete(this.opened.values().next().value as string);
    return store;
  }

  /** One snapshot operation per store at a time: in this process (a queue) and across processes (a lock file). */
  private async locked<T>(store: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(store) ?? Promise.resolve();
    const run = prev.then(() =>
      withLockFile(path.join(store, 'lock'), async () => {
        // Every write to tmp/ happens under this lock: what is there now was left by a process that died.
        const tmp = path.join(store, 'tmp');
        for (const name of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) fs.rmSync(path.join(tmp, name), { force: true });
        return fn();
      }),
    );
    const tail = run.catch(() => undefined);
    this.queues.set(store, tail);
    try {
      return await run;
    } finally {
      if (this.queues.get(store) === tail) this.queues.delete(store);
    }
  }
}

// --- store files ---------------------------------------------------------------------------------------

/** When a session's workspace and snapshots were removed (removeSessionWorkspace leaves this behind). */
function readRemoved(store: string): string | undefined {
  try {
    return fs.readFileSync(path.join(store, 'removed'), 'utf8').trim().slice(0, 100) || 'at an unknown time';
  } catch {
    return undefined;
  }
}

function manifestPath(store: string, id: string): string {
  return path.join(store, 'manifests', `${id}.json`);
}

function blobPath(store: string, hash: string): string {
  return path.join(store, 'blobs', hash.slice(0, 2), hash);
}

function manifestId(manifest: Manifest): string {
  return sha256(JSON.stringify(manifest));
}

/** Writes the manifest unless a tree with the same id is stored; returns its id. */
function writeManifest(store: string, manifest: Manifest): string {
  const json = JSON.stringify(manifest);
  const id = sha256(json);
  const file = manifestPath(store, id);
  if (!fs.existsSync(file)) atomicWrite(store, file, json);
  return id;
}

function loadManifest(store: string, id: string): Manifest {
  if (!HEX64.test(id)) throw new SnapshotError(`snapshot id '${id}' is not a sha256`);
  let raw: string;
  try {
    raw = fs.readFileSync(manifestPath(store, id), 'utf8');
  } catch (err) {
    throw new SnapshotError(`snapshot ${id} of ${store} cannot be read (${errno(err) ?? (err as Error).message})`);
  }
  if (sha256(raw) !== id) throw new SnapshotError(`snapshot ${id} of ${store} is corrupt (its content does not hash to its name)`);
  return JSON.parse(raw) as Manifest;
}

function listManifests(store: string): string[] {
  const dir = path.join(store, 'manifests');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)) : [];
}

function readLog(store: string): LogLine[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(store, 'log'), 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return [];
    throw err;
  }
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const l = JSON.parse(line) as LogLine;
      if (Number.isSafeInteger(l.seq) && (('m' in l && HEX64.test(l.m)) || ('failed' in l && typeof l.failed === 'string') || ('same' in l && l.same === true))) out.push(l);
    } catch {
      /* a torn line (crash while appending): as if not written */
    }
  }
  return out;
}

/** One line, O_APPEND: small writes to a local file land whole. */
function appendLog(store: string, line: LogLine): void {
  fs.appendFileSync(path.join(store, 'log'), `${JSON.stringify(line)}\n`, { mode: 0o600 });
}

/** Bytes of content the store holds: from its newest log line that says (read from the end of the log). */
function storeBytes(store: string): number {
  const file = path.join(store, 'log');
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY);
  } catch (err) {
    if (errno(err) === 'ENOENT') return 0;
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const tail = Buffer.alloc(Math.min(size, 16 * 1024));
    fs.readSync(fd, tail, 0, tail.length, size - tail.length);
    const lines = tail.toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= (tail.length < size ? 1 : 0); i--) {
      const b = bytesOf(lines[i]);
      if (b !== undefined) return b;
    }
  } finally {
    fs.closeSync(fd);
  }
  const all = readLog(store);
  for (let i = all.length - 1; i >= 0; i--) {
    const line = all[i];
    if (!('same' in line) && typeof line.b === 'number') return line.b;
  }
  return 0;
}

function bytesOf(line: string): number | undefined {
  if (!line) return undefined;
  try {
    const b = (JSON.parse(line) as { b?: unknown }).b;
    return typeof b === 'number' && Number.isSafeInteger(b) && b >= 0 ? b : undefined;
  } catch {
    return undefined;
  }
}

function tmpPath(store: string): string {
  return path.join(store, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}`);
}

function atomicWrite(store: string, file: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = tmpPath(store);
  fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
  fs.renameSync(tmp, file);
}

/** Moves a finished temporary copy to its blob name (or drops it when the blob is there); returns bytes added. */
function commitBlob(store: string, tmp: string, hash: string, size: number, chmod = true): number {
  const dest = blobPath(store, hash);
  if (fs.existsSync(dest)) {
    fs.rmSync(tmp, { force: true });
    return 0;
  }
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  if (chmod) fs.chmodSync(tmp, 0o400);
  fs.renameSync(tmp, dest);
  return size;
}

/** Shares a blob of `from` with `to` (hard link: blobs are never written again; a copy across filesystems). */
function linkBlob(from: string, to: string, hash: string, size: number): number {
  const dest = blobPath(to, hash);
  if (fs.existsSync(dest)) return 0;
  fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o700 });
  try {
    fs.linkSync(blobPath(from, hash), dest);
  } catch (err) {
    if (errno(err) === 'EEXIST') return 0;
    if (errno(err) !== 'EXDEV' && errno(err) !== 'EPERM' && errno(err) !== 'EMLINK') throw err;
    const tmp = tmpPath(to);
    fs.copyFileSync(blobPath(from, hash), tmp, fs.constants.COPYFILE_FICLONE);
    return commitBlob(to, tmp, hash, size);
  }
  return size;
}

/**
 * Opens the file at `parts` below `rootFd` (no symlink followed anywhere), hashes it and stores its
 * content as a blob if the store does not have it. Null when it is gone or no longer a regular file.
 */
async function storeFile(store: string, rootFd: number, parts: string[]): Promise<{ hash: string; size: number; added: number; st: fs.BigIntStats; stable: boolean } | null> {
  const fd = openFileBeneath(rootFd, parts);
  if (fd === null) return null;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) return null;
    const stable = (): boolean => fs.fstatSync(fd, { bigint: true }).ctimeNs === st.ctimeNs;
    if (st.size <= BigInt(SMALL_FILE)) {
      // Small: read at once, synchronously (a thread-pool round trip costs more than the read).
      const buf = readAllSync(fd, Number(st.size));
      const hash = sha256(buf);
      let added = 0;
      if (!fs.existsSync(blobPath(store, hash))) {
        const tmp = tmpPath(store);
        fs.writeFileSync(tmp, buf, { mode: 0o400, flag: 'wx' });
        added = commitBlob(store, tmp, hash, buf.length, false);
      }
      return { hash, size: buf.length, added, st, stable: stable() };
    }
    const first = await hashFd(fd);
    if (fs.existsSync(blobPath(store, first.hash))) return { hash: first.hash, size: first.size, added: 0, st, stable: stable() };
    // New content: copy it (a reflink where the filesystem has them), then name it by what was copied.
    const tmp = tmpPath(store);
    await fs.promises.copyFile(fdPath(fd), tmp, fs.constants.COPYFILE_FICLONE);
    const copyFd = fs.openSync(tmp, O_RDONLY);
    let copied: { hash: string; size: number };
    try {
      copied = await hashFd(copyFd);
    } finally {
      fs.closeSync(copyFd);
    }
    const added = commitBlob(store, tmp, copied.hash, copied.size);
    return { hash: copied.hash, size: copied.size, added, st, stable: stable() && copied.hash === first.hash };
  } finally {
    fs.closeSync(fd);
  }
}

function openFileBeneath(rootFd: number, parts: string[]): number | null {
  let dirFd = rootFd;
  try {
    for (let i = 0; i < parts.length - 1; i++) {
      const next = fs.openSync(fdPath(dirFd, parts[i]), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      if (dirFd !== rootFd) fs.closeSync(dirFd);
      dirFd = next;
    }
    return fs.openSync(fdPath(dirFd, parts[parts.length - 1]), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EACCES'].includes(errno(err) ?? '')) return null;
    throw err;
  } finally {
    if (dirFd !== rootFd) fs.closeSync(dirFd);
  }
}

function readAllSync(fd: number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = fs.readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

async function hashFd(fd: number): Promise<{ hash: string; size: number }> {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1024 * 1024);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await readFd(fd, buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return { hash: h.digest('hex'), size: pos };
}

// --- restore -------------------------------------------------------------------------------------------

function validEntry(e: ManifestEntry): boolean {
  if (typeof e.p !== 'string' || e.p === '' || e.p.includes('\0')) return false;
  if (e.p.split('/').some((c) => c === '' || c === '.' || c === '..')) return false;
  if (!Number.isInteger(e.m) || e.m < 0 || e.m > 0o7777 || !Number.isInteger(e.u) || !Number.isInteger(e.g)) return false;
  if (e.t === 'f') return typeof e.h === 'string' && HEX64.test(e.h) && Number.isSafeInteger(e.s ?? 0);
  if (e.t === 'l') return typeof e.l === 'string' && e.l.length > 0 && !e.l.includes('\0');
  return e.t === 'd';
}

/** Builds the manifest's tree in `targetDir` (which must be empty) from the blobs of `store`. */
async function materialize(manifest: Manifest, store: string, targetDir: string): Promise<RestoreOutcome> {
  if (manifest?.v !== 1 || !Array.isArray(manifest.entries)) throw new SnapshotError(`a snapshot manifest of ${store} has an unknown format`);
  const dirs = new Set<string>(['']);
  const chown = isRoot();
  let files = 0;
  let bytes = 0;
  const dirModes: Array<[string, number]> = [];
  for (const e of manifest.entries) {
    if (!validEntry(e)) throw new SnapshotError(`a snapshot manifest of ${store} has an invalid entry (${JSON.stringify(e).slice(0, 200)})`);
    const parent = e.p.includes('/') ? e.p.slice(0, e.p.lastIndexOf('/')) : '';
    // Only below directories this restore made: never through a symlink, whatever a manifest says.
    if (!dirs.has(parent)) throw new SnapshotError(`a snapshot manifest of ${store} has '${e.p}' outside a directory it restores`);
    const dest = path.join(targetDir, e.p);
    if (e.t === 'd') {
      fs.mkdirSync(dest, { mode: 0o700 });
      dirs.add(e.p);
      dirModes.push([dest, e.m]);
      if (chown) fs.lchownSync(dest, e.u, e.g);
    } else if (e.t === 'l') {
      fs.symlinkSync(e.l!, dest);
      if (chown) fs.lchownSync(dest, e.u, e.g);
    } else {
      await fs.promises.copyFile(blobPath(store, e.h!), dest, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
      if (chown) fs.lchownSync(dest, e.u, e.g);
      fs.chmodSync(dest, e.m);
      // Seconds as a double lose the last ns when converted back: half a microsecond keeps the ms exact.
      if (e.mt !== undefined) fs.utimesSync(dest, (e.mt + 0.0005) / 1000, (e.mt + 0.0005) / 1000);
      files++;
      bytes += e.s ?? 0;
    }
  }
  // Modes last, deepest first: a read-only directory is filled before it becomes read-only.
  for (const [dir, mode] of dirModes.reverse()) fs.chmodSync(dir, mode);
  return { entries: manifest.entries.length, files, bytes };
}

/** Empties a directory (a retried restore starts over); never leaves its filesystem. */
function clearDir(dir: string): void {
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

function withLockFile<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  return withPidLock(
    lock,
    {
      waitMs: LOCK_WAIT_MS,
      pollMs: 20,
      // This process queues its own users of a store (locked()): a lock with our pid was left by an earlier process.
      reclaimOwnPid: true,
      timeoutError: (owner) => new SnapshotError(`snapshot store lock ${lock} is held by pid ${owner} for more than ${LOCK_WAIT_MS / 1000} s; if that process is stuck, stop it or remove the lock file`),
    },
    fn,
  );
}

function mib(b: number): string {
  return `${(b / (1024 * 1024)).toFixed(1)} MiB`;
}

function seqList(seqs: number[]): string {
  const shown = seqs.slice(0, NOTE_SEQS).join(', ');
  return `seq ${shown}${seqs.length > NOTE_SEQS ? ` and ${seqs.length - NOTE_SEQS} more` : ''}`;
}

function fallbackNotes(notes: string[], chosen: number, atSeq: number, problems: number): string[] {
  if (problems === 0) return notes;
  return [...notes, `restored the nearest earlier snapshot (seq ${chosen}) instead of the state at seq ${atSeq}`];
}

function bounded(text: string): string {
  return text.length > 1000 ? `${text.slice(0, 997)}...` : text;
}
