/**
 * The fork activity's workspace and carried state (activities/fork.ts forkFrom), without a server: a
 * SQLite store, real directories, the parent's state given directly. Covers the paths the end-to-end fork
 * tests do not reach: snapshots off, a parent without snapshots (copied as it is, said so, and a fork of
 * that fork inherits the note), and a parent whose state cannot be read.
 */
import * as fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createForkActivities, type ForkDeps } from '../../activities/fork';
import { openSessionStore, type SessionStore } from '../../runtime/store';
import { openSessionWorkspace } from '../../runtime/workspace';
import { WorkspaceSnapshots } from '../../runtime/workspace-snapshots';
import type { SessionState } from '../../workflows/types';

let root: string;
let store: SessionStore;
beforeEach(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'fork-workspace-'));
  store = openSessionStore(`sqlite:${path.join(root, 'sessions.sqlite')}`);
  // 0 system, 1 user, 2 a turn calling write_file, 3 its result.
  const call = { id: 'c1', name: 'write_file', args: { path: 'A', content: 'v1' }, summary: 'write_file(A)' };
  await store.append('parent', [
    { seq: 0, message: { role: 'system', content: 'You write files.' }, meta: { pinned: true } },
    { seq: 1, message: { role: 'user', content: 'write' } },
    {
      seq: 2,
      message: { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'write_file', arguments: '{}' }] },
      meta: { turn: { seq: 2, content: null, toolCalls: [call], usage: { promptTokens: 10, completionTokens: 1, totalTokens: 11 }, model: 'm' } },
    },
    { seq: 3, message: { role: 'tool', toolCallId: 'c1', content: '{"bytes":2}' }, meta: { ok: true, tool: 'write_file' } },
  ]);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const workspaces = (): string => path.join(root, 'workspaces');
const write = (id: string, rel: string, content: string): void => fs.writeFileSync(path.join(openSessionWorkspace(workspaces(), id).dir, rel), content);
const read = (id: string): Record<string, string> => {
  const dir = openSessionWorkspace(workspaces(), id).dir;
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
};
const noState: ForkDeps['parentState'] = async () => ({ topUps: [] }) as unknown as SessionState;
const activities = (over: Partial<ForkDeps> = {}) =>
  createForkActivities({ store, workspaceRoot: workspaces(), pricingOf: () => ({ inputPerMTokUsd: 0, outputPerMTokUsd: 0 }), parentState: noState, ...over });

test('snapshots on: the workspace at the fork point, not as it is now', async () => {
  const snapshots = new WorkspaceSnapshots(workspaces());
  write('parent', 'A', 'v1');
  await snapshots.record('parent', 3);
  write('parent', 'A', 'v2'); // a later call, after the fork point
  const point = await activities({ snapshots }).forkFrom({ sessionId: 'fork', parentSessionId: 'parent', atSeq: 3, agent: 'writer' });
  expect(point).toMatchObject({ workspace: 'restored', workspaceDetail: { from: 'snapshot', seq: 3, session: 'parent', files: 1, bytes: 2 } });
  expect(point.workspaceDetail?.inexact).toBeUndefined();
  expect(read('fork')).toEqual({ A: 'v1' });
  expect(read('parent')).toEqual({ A: 'v2' });
});

test('snapshots off: the parent workspace as it is now, and the fork is told', async () => {
  write('parent', 'A', 'v2');
  const point = await activities().forkFrom({ sessionId: 'fork', parentSessionId: 'parent', atSeq: 3, agent: 'writer' });
  expect(point).toMatchObject({ workspace: 'copied', workspaceDetail: { from: 'current', files: 1, bytes: 2 } });
  expect(point.workspaceDetail?.inexact).toContain('workspace snapshots are off on this worker (WORKSPACE_SNAPSHOTS=off)');
  expect(read('fork')).toEqual({ A: 'v2' });
});

test('a parent without snapshots is copied as it is, said so; a fork of that fork inherits the note', async () => {
  const snapshots = new WorkspaceSnapshots(workspaces());
  write('parent', 'A', 'v2');
  const point = await activities({ snapshots }).forkFrom({ sessionId: 'fork', parentSessionId: 'parent', atSeq: 3, agent: 'writer' });
  expect(point).toMatchObject({ workspace: 'copied', workspaceDetail: { from: 'current', files: 1 } });
  expect(point.workspaceDetail?.inexact).toMatch(/session parent has no workspace snapshots .*copied the workspace of parent as it is now, which may hold changes made after seq 3/);
  // The fork's own first snapshot is that copy, with the same caveat for anyone forking it there.
  const again = await activities({ snapshots }).forkFrom({ sessionId: 'grandchild', parentSessionId: 'fork', atSeq: 3, agent: 'writer' });
  expect(again).toMatchObject({ workspace: 'restored', workspaceDetail: { from: 'snapshot', seq: 3, session: 'fork' } });
  expect(again.workspaceDetail?.inexact).toContain('copied the workspace of parent as it is now');
  expect(read('grandchild')).toEqual({ A: 'v2' });
  // Before any tool call there was nothing to copy: empty, and exact.
  const early = await activities({ snapshots }).forkFrom({ sessionId: 'early', parentSessionId: 'parent', atSeq: 1, agent: 'writer' });
  expect(early).toMatchObject({ workspace: 'none', workspaceDetail: { from: 'empty', files: 0 } });
  expect(early.workspaceDetail?.inexact).toBeUndefined();
  expect(read('early')).toEqual({});
});

test("the parent's grants and top-ups come from its state; a parent that cannot answer is said so, and the fork still starts", async () => {
  const state = {
    topUps: [{ at: '2026-01-01T00:00:00Z', approver: 'ops', add: { maxSteps: 3 }, afterSeq: 3, total: { maxSteps: 3, maxTokens: 0, maxCostUsd: 0 } }],
    sessionGrants: [{ tool: 'write_file', policyVersion: '1', approver: 'ops', approvalId: 'parent/3', grantedAt: '2026-01-01T00:00:00Z' }],
  } as unknown as SessionState;
  const point = await activities({ parentState: async () => state }).forkFrom({ sessionId: 'fork', parentSessionId: 'parent', atSeq: 3, agent: 'writer' });
  expect(point.carried).toEqual({ sessionGrants: state.sessionGrants, topUps: state.topUps, topUpTotal: { maxSteps: 3, maxTokens: 0, maxCostUsd: 0 } });
  const broken = await activities({
    parentState: async () => {
      throw new Error('Nondeterminism error: the parent replays differently\nstack...');
    },
  }).forkFrom({ sessionId: 'fork2', parentSessionId: 'parent', atSeq: 3, agent: 'writer' });
  expect(broken.carried).toEqual({
    sessionGrants: [],
    topUps: [],
    topUpTotal: {},
    note: "the parent's state could not be read (Nondeterminism error: the parent replays differently): no grants or top-ups carried",
  });
});
