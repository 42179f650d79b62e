/**
 * The workspace snapshot store (runtime/workspace-snapshots.ts) on a real directory tree: content is kept
 * once, an unchanged workspace adds no tree, the limits evict the oldest trees, a missing snapshot falls
 * back to the nearest earlier one and says so, and a restore gives back exactly the tree at a seq. Also
 * which grants and top-ups a fork carries (activities/fork.ts carriedAt).
 */
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { carriedAt, grantSeq } from '../../activities/fork';
import { openSessionWorkspace, removeSessionWorkspace, workspacePath } from '../../runtime/workspace';
import { snapshotLimits, snapshotsFollow, WorkspaceSnapshots, type ParentOf, type SnapshotChoice } from '../../runtime/workspace-snapshots';
import type { SessionState } from '../../workflows/types';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshots-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

const noParent: ParentOf = async () => undefined;
const ws = (id: string): string => openSessionWorkspace(root, id).dir;
const write = (id: string, rel: string, content: string | Buffer): void => {
  const file = path.join(ws(id), rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
};
/** The tree under a directory: path -> content (files), '<dir>' or '-> target' (symlinks). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(dir, p));
      if (st.isSymbolicLink()) out[p] = `-> ${fs.readlinkSync(path.join(dir, p))}`;
      else if (st.isDirectory()) {
        out[p] = '<dir>';
        walk(p);
      } else out[p] = fs.readFileSync(path.join(dir, p), 'utf8');
    }
  };
  walk('');
  return out;
}
async function restoreInto(snaps: WorkspaceSnapshots, choice: SnapshotChoice, forkId: string, atSeq: number): Promise<Record<string, string>> {
  if (choice.kind === 'unavailable') throw new Error('unavailable');
  await snaps.restore(choice, forkId, ws(forkId), atSeq);
  return tree(ws(forkId));
}
const blobCount = (snaps: WorkspaceSnapshots, id: string): number => {
  const blobs = path.join(snaps.storeDir(id), 'blobs');
  return fs.readdirSync(blobs).reduce((n, fan) => n + fs.readdirSync(path.join(blobs, fan)).length, 0);
};

test('write A=v1, overwrite A=v2 and add B, delete A: each seq restores exactly its tree; the parent is untouched', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'A', 'v1');
  await snaps.record('p', 3);
  write('p', 'A', 'v2');
  write('p', 'dir/B', 'b');
  fs.symlinkSync('/etc/passwd', path.join(ws('p'), 'link'));
  await snaps.record('p', 5);
  fs.rmSync(path.join(ws('p'), 'A'));
  await snaps.record('p', 7);
  const tools = [3, 5, 7];

  expect(await restoreInto(snaps, await snaps.resolve('p', 2, tools, noParent), 'f2', 2)).toEqual({});
  expect(await restoreInto(snaps, await snaps.resolve('p', 3, tools, noParent), 'f3', 3)).toEqual({ A: 'v1' });
  expect(await restoreInto(snaps, await snaps.resolve('p', 4, tools, noParent), 'f4', 4)).toEqual({ A: 'v1' });
  // The symlink is restored as a symlink: its target was never read or followed.
  expect(await restoreInto(snaps, await snaps.resolve('p', 5, tools, noParent), 'f5', 5)).toEqual({ A: 'v2', dir: '<dir>', 'dir/B': 'b', link: '-> /etc/passwd' });
  expect(await restoreInto(snaps, await snaps.resolve('p', 9, tools, noParent), 'f9', 9)).toEqual({ dir: '<dir>', 'dir/B': 'b', link: '-> /etc/passwd' });
  expect(tree(ws('p'))).toEqual({ dir: '<dir>', 'dir/B': 'b', link: '-> /etc/passwd' });
  // Modes and mtimes come back with the content.
  const src = fs.statSync(path.join(ws('p'), 'dir/B'));
  const got = fs.statSync(path.join(ws('f5'), 'dir/B'));
  expect([got.mode, got.uid, Math.floor(got.mtimeMs)]).toEqual([src.mode, src.uid, Math.floor(src.mtimeMs)]);
});

test('content is stored once (dedup) and an unchanged workspace adds a log line, not a tree', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'one.txt', 'same content');
  write('p', 'two.txt', 'same content');
  const first = await snaps.record('p', 1);
  expect(first).toMatchObject({ kind: 'snapshot', changed: true, files: 2, newBytes: 12 });
  expect(blobCount(snaps, 'p')).toBe(1);
  const again = await snaps.record('p', 2);
  expect(again).toMatchObject({ kind: 'snapshot', changed: false, newBytes: 0 });
  expect(again.kind === 'snapshot' && first.kind === 'snapshot' && again.manifest).toBe(first.kind === 'snapshot' && first.manifest);
  write('p', 'three.txt', 'same content'); // a new tree, no new content
  expect(await snaps.record('p', 3)).toMatchObject({ kind: 'snapshot', changed: true, newBytes: 0 });
  expect(snaps.usage('p')).toEqual({ snapshots: 2, bytes: 12, records: 3 });
  // A retried activity whose first attempt recorded the seq adds nothing.
  expect(await snaps.record('p', 3, { ifMissing: true })).toEqual({ kind: 'exists' });
  // A fresh process (no stat cache) finds the same tree and copies nothing.
  expect(await new WorkspaceSnapshots(root).record('p', 4)).toMatchObject({ kind: 'snapshot', changed: false, newBytes: 0 });
});

test('a file changed in place with the same size and a restored mtime is still seen (ctime, not mtime, guards the cache)', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'f', 'aaaa');
  const file = path.join(ws('p'), 'f');
  fs.utimesSync(file, new Date('2020-01-01'), new Date('2020-01-01'));
  await snaps.record('p', 1);
  fs.writeFileSync(file, 'bbbb');
  fs.utimesSync(file, new Date('2020-01-01'), new Date('2020-01-01'));
  await snaps.record('p', 2);
  expect(await restoreInto(snaps, await snaps.resolve('p', 1, [1, 2], noParent), 'f1', 1)).toEqual({ f: 'aaaa' });
  expect(await restoreInto(snaps, await snaps.resolve('p', 2, [1, 2], noParent), 'f2', 2)).toEqual({ f: 'bbbb' });
});

test('bounds: past maxSnapshots the trees used longest ago are evicted (never the newest); a fork there falls back and says so', async () => {
  const snaps = new WorkspaceSnapshots(root, { maxSnapshots: 3 });
  for (let i = 1; i <= 6; i++) {
    write('p', 'f', `v${i}`);
    await snaps.record('p', i);
  }
  const usage = snaps.usage('p');
  expect(usage.snapshots).toBeLessThanOrEqual(3);
  expect(usage.records).toBe(6);
  // The newest trees are kept, with their content.
  expect(await restoreInto(snaps, await snaps.resolve('p', 6, [1, 2, 3, 4, 5, 6], noParent), 'f6', 6)).toEqual({ f: 'v6' });
  // seq 1 was evicted: nothing earlier is left, so the empty start, with the reason.
  const at1 = await snaps.resolve('p', 1, [1, 2, 3, 4, 5, 6], noParent);
  expect(at1.kind).toBe('initial');
  expect(at1.notes.join('; ')).toContain('seq 1: its snapshot is no longer stored (evicted by the per-session snapshot limits)');
  // Blobs of evicted trees are deleted.
  expect(blobCount(snaps, 'p')).toBe(usage.snapshots);
});

test('bounds: maxBytes evicts old content; a workspace larger than maxBytes is not snapshotted and the log says why', async () => {
  const snaps = new WorkspaceSnapshots(root, { maxBytes: 1000 });
  write('p', 'f', 'x'.repeat(400));
  await snaps.record('p', 1);
  write('p', 'f', 'y'.repeat(400));
  await snaps.record('p', 2);
  write('p', 'f', 'z'.repeat(400));
  await snaps.record('p', 3);
  expect(snaps.usage('p').bytes).toBeLessThanOrEqual(1000);
  write('p', 'g', 'w'.repeat(800));
  const big = await snaps.record('p', 4);
  expect(big).toEqual({ kind: 'failed', reason: expect.stringContaining('more than the per-session snapshot limit of 0.0 MiB (WORKSPACE_SNAPSHOT_MAX_BYTES)') });
  // A fork at 4 gets the nearest earlier tree (seq 3), and the reason it is not seq 4's.
  const at4 = await snaps.resolve('p', 4, [1, 2, 3, 4], noParent);
  expect(at4).toMatchObject({ kind: 'snapshot', seq: 3 });
  expect(at4.notes.join('; ')).toMatch(/seq 4: not snapshotted.*restored the nearest earlier snapshot \(seq 3\) instead of the state at seq 4/);
  expect(await restoreInto(snaps, at4, 'f4', 4)).toEqual({ f: 'z'.repeat(400) });
});

test('maxFiles: a workspace with too many entries is not snapshotted (named setting)', async () => {
  const snaps = new WorkspaceSnapshots(root, { maxFiles: 5 });
  for (let i = 0; i < 6; i++) write('p', `f${i}`, String(i));
  expect(await snaps.record('p', 1)).toEqual({ kind: 'failed', reason: 'not snapshotted: the workspace has more than 5 entries (WORKSPACE_SNAPSHOT_MAX_FILES)' });
  expect(() => snapshotLimits({ maxBytes: 0 })).toThrow('workspace snapshot limit maxBytes (WORKSPACE_SNAPSHOT_MAX_BYTES) must be a positive integer, got 0');
});

test('a tool call without a snapshot record: the nearest earlier snapshot, and the fork is told which seqs are missing', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'A', 'v1');
  await snaps.record('p', 3);
  write('p', 'A', 'v2'); // the call at seq 5 changed it, but its snapshot was never recorded (worker died)
  const at5 = await snaps.resolve('p', 5, [3, 5], noParent);
  expect(at5).toMatchObject({ kind: 'snapshot', seq: 3 });
  expect(at5.notes).toEqual(['no snapshot was recorded for the tool call(s) at seq 5', 'restored the nearest earlier snapshot (seq 3) instead of the state at seq 5']);
  expect(await restoreInto(snaps, at5, 'f5', 5)).toEqual({ A: 'v1' });
  // A session with a workspace but no snapshots (it ran before them): unavailable (the caller copies what is
  // there and says so), unless no tool had run by then.
  write('old', 'X', 'legacy');
  expect((await snaps.resolve('old', 5, [3], noParent)).kind).toBe('unavailable');
  expect(await snaps.resolve('old', 2, [3], noParent)).toEqual({ kind: 'initial', session: 'old', notes: [] });
  // Tools that never asked for the workspace: it was never made, so it was empty all along.
  expect(await snaps.resolve('never-opened', 5, [3], noParent)).toEqual({ kind: 'initial', session: 'never-opened', notes: [] });
});

test('a fork of a fork: seqs before the fork point come from the parent, later ones from the fork, whose snapshots start from its restored tree', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'A', 'v1');
  await snaps.record('p', 3);
  write('p', 'A', 'v2');
  await snaps.record('p', 5);
  // The fork at 3 restores A=v1 and records it as its own first snapshot.
  const links: Record<string, { parentId: string; beforeSeq: number }> = { f: { parentId: 'p', beforeSeq: 4 } };
  const parentOf: ParentOf = async (id) => links[id];
  expect(await restoreInto(snaps, await snaps.resolve('p', 3, [3, 5], noParent), 'f', 3)).toEqual({ A: 'v1' });
  write('f', 'C', 'fork'); // the fork's own call at seq 5
  await snaps.record('f', 5);
  expect(await restoreInto(snaps, await snaps.resolve('f', 5, [3, 5], parentOf), 'ff5', 5)).toEqual({ A: 'v1', C: 'fork' });
  expect(await restoreInto(snaps, await snaps.resolve('f', 4, [3, 5], parentOf), 'ff4', 4)).toEqual({ A: 'v1' });
  expect(await restoreInto(snaps, await snaps.resolve('f', 2, [3, 5], parentOf), 'ff2', 2)).toEqual({});
  // The fork's store shares the parent's blobs (hard links), so removing the parent's store does not break it.
  removeSessionWorkspace(root, 'p');
  expect(fs.existsSync(workspacePath(root, 'p'))).toBe(false);
  expect(fs.readdirSync(snaps.storeDir('p'))).toEqual(['removed']); // a tombstone, nothing else
  expect(await restoreInto(snaps, await snaps.resolve('f', 4, [3, 5], parentOf), 'ff4b', 4)).toEqual({ A: 'v1' });
  expect((await snaps.resolve('f', 3, [3, 5], parentOf)).kind).toBe('snapshot');
  // Before any tool call the workspace was empty: still exact with the parent's snapshots gone.
  expect((await snaps.resolve('f', 2, [3, 5], parentOf)).kind).toBe('initial');
  // After a tool call of the parent's whose snapshot is gone: said so, not guessed.
  const gone = await snaps.resolve('p', 3, [3, 5], noParent);
  expect(gone.kind).toBe('unavailable');
  expect(gone.notes.join('; ')).toMatch(/the workspace and workspace snapshots of p were removed \(removed 20/);
});

test('a retried restore starts over: whatever the target held is gone', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'A', 'v1');
  await snaps.record('p', 1);
  write('f', 'leftover', 'from an earlier attempt');
  expect(await restoreInto(snaps, await snaps.resolve('p', 1, [1], noParent), 'f', 1)).toEqual({ A: 'v1' });
});

test('a manifest cannot make a restore write through a symlink', async () => {
  const snaps = new WorkspaceSnapshots(root);
  write('p', 'ok', '1');
  const rec = await snaps.record('p', 1);
  if (rec.kind !== 'snapshot') throw new Error('no snapshot');
  // Forge a tree whose file sits below a symlink (a store is root-only, but a restore must not trust it).
  const store = snaps.storeDir('p');
  const forged = JSON.stringify({ v: 1, skipped: 0, entries: [{ p: 'l', t: 'l', m: 0o777, u: 0, g: 0, l: '/tmp' }, { p: 'l/x', t: 'f', m: 0o644, u: 0, g: 0, s: 1, h: 'a'.repeat(64) }] });
  const id = require('node:crypto').createHash('sha256').update(forged).digest('hex') as string;
  fs.writeFileSync(path.join(store, 'manifests', `${id}.json`), forged);
  await expect(snaps.restore({ kind: 'snapshot', session: 'p', seq: 1, manifest: id, notes: [] }, 'f', ws('f'), 1)).rejects.toThrow("has 'l/x' outside a directory it restores");
});

test("a call that never asked for the workspace adds a line that changes nothing; it never hides a snapshot of the same seq", async () => {
  const snaps = new WorkspaceSnapshots(root);
  snaps.untouched('p', 1); // no store yet: nothing written
  expect(fs.existsSync(snaps.storeDir('p'))).toBe(false);
  write('p', 'A', 'v1');
  await snaps.record('p', 3);
  snaps.untouched('p', 5); // e.g. a notice sent: the workspace is as after seq 3, and that is exact
  snaps.untouched('p', 3); // a retried call that did not touch it this time
  const at5 = await snaps.resolve('p', 5, [3, 5], noParent);
  expect(at5).toMatchObject({ kind: 'snapshot', seq: 3, notes: [] });
  expect(snaps.usage('p')).toMatchObject({ snapshots: 1, records: 3 });
});

test('which tools are followed by a snapshot: all but read-only and built-in ones', () => {
  expect(snapshotsFollow({ effects: 'none' })).toBe(true);
  expect(snapshotsFollow({ effects: 'write' })).toBe(true);
  expect(snapshotsFollow({})).toBe(true);
  expect(snapshotsFollow({ effects: 'read' })).toBe(false);
  expect(snapshotsFollow({ builtin: 'wait' })).toBe(false);
});

describe('grants and top-ups a fork carries (activities/fork.ts carriedAt)', () => {
  const grant = (seq: number, tool = 'send_notice') => ({ tool, policyVersion: '1', approver: 'ops', approvalId: `parent/${seq}`, grantedAt: '2026-01-01T00:00:00Z' });
  const topUp = (afterSeq: number, add: number, total: number) => ({ at: '2026-01-01T00:00:00Z', approver: 'ops', add: { maxSteps: add }, afterSeq, total: { maxSteps: total, maxTokens: 0, maxCostUsd: 0 } });
  const state = (s: Partial<SessionState>): Pick<SessionState, 'sessionGrants' | 'topUps'> => ({ topUps: [], ...s });

  test('grants decided on calls at or before the fork point; top-ups given while the last seq was at or before it', () => {
    const s = state({ sessionGrants: [grant(3), grant(9, 'other')], topUps: [topUp(4, 2, 2), topUp(10, 5, 7)] });
    expect(grantSeq(grant(3))).toBe(3);
    expect(carriedAt(s, 3, undefined)).toEqual({ sessionGrants: [grant(3)], topUps: [], topUpTotal: {} });
    expect(carriedAt(s, 5, undefined)).toEqual({ sessionGrants: [grant(3)], topUps: [topUp(4, 2, 2)], topUpTotal: { maxSteps: 2, maxTokens: 0, maxCostUsd: 0 } });
    expect(carriedAt(s, 10, undefined)).toMatchObject({ sessionGrants: [grant(3), grant(9, 'other')], topUpTotal: { maxSteps: 7 } });
  });

  test('top-ups recorded before they carried a seq are placed by time against the entry after the fork point', () => {
    const old = (at: string, add: number) => ({ at, approver: 'ops', add: { maxSteps: add } });
    const s = state({ topUps: [old('2026-01-01T00:00:01Z', 2), old('2026-01-01T00:00:05Z', 3)] });
    expect(carriedAt(s, 4, '2026-01-01T00:00:03.000Z')).toEqual({ sessionGrants: [], topUps: [old('2026-01-01T00:00:01Z', 2)], topUpTotal: { maxSteps: 2 } });
    expect(carriedAt(s, 9, undefined).topUpTotal).toEqual({ maxSteps: 5 });
  });

  test('the running total covers top-ups older than the kept list; a fork before all kept ones is told what is not carried', () => {
    const kept = Array.from({ length: 50 }, (_, i) => topUp(100 + i, 1, 10 + i + 1)); // 10 steps came from older, dropped top-ups
    expect(carriedAt(state({ topUps: kept }), 120, undefined).topUpTotal).toEqual({ maxSteps: 31, maxTokens: 0, maxCostUsd: 0 });
    const before = carriedAt(state({ topUps: kept }), 50, undefined);
    expect(before.topUps).toEqual([]);
    expect(before.note).toContain('keeps only its last 50 top-ups and the oldest of them came after the fork point');
  });
});
