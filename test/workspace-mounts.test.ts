/**
 * Workspaces are loop-mounted filesystems (sandbox/quota.ts). A worker that stops leaves none of its
 * mounts behind (the data folder can be deleted), and its sessions go on on the next worker.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openSessionWorkspace, removeSessionWorkspace, workspaceFolderName } from '../runtime/workspace';
import { WorkspaceSnapshots } from '../runtime/workspace-snapshots';
import { ensureWorkspaceFs, quotaAvailable, releaseWorkspaceMounts } from '../sandbox/quota';
import { applicationScript } from '../examples/agents/application/script';
import { signalApproval, startSession, waitForState } from '../client/sessions';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness(applicationScript);
});
afterAll(async () => h?.close());

const mountsUnder = (root: string): string[] =>
  readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((p) => p.startsWith(`${root}/`));

test('a stopped worker unmounts its workspaces; the session still completes on the next worker', async () => {
  const first = await h.startWorker();
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval', { timeoutMs: 60_000 });
  expect(st.transcript.find((e) => e.tool === 'run_python')?.ok).toBe(true); // a sandboxed run used the workspace
  expect(mountsUnder(h.config.WORKSPACE_ROOT)).toHaveLength(1);
  await first.shutdown();
  expect(mountsUnder(h.config.WORKSPACE_ROOT)).toEqual([]);

  await h.startWorker();
  await signalApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'alice' });
  expect((await s.handle.result()).status).toBe('completed');
});

test("a snapshot reads a size-limited workspace's own filesystem (mounting its image when nobody has); removing the workspace removes image and snapshots", async () => {
  if (!quotaAvailable().ok) {
    console.warn(`skipped: no per-workspace filesystems here (${JSON.stringify(quotaAvailable())})`);
    return;
  }
  const root = h.config.WORKSPACE_ROOT;
  const dir = openSessionWorkspace(root, 'quota-snapshot').dir;
  await ensureWorkspaceFs(dir, 16 * 1024 * 1024);
  writeFileSync(path.join(dir, 'inside.txt'), 'in the image');
  releaseWorkspaceMounts(dir); // as after a worker restart: the image holds the file, the mount point is empty
  expect(mountsUnder(root)).not.toContain(dir);
  expect(readdirSync(dir)).toEqual([]);

  const snapshots = new WorkspaceSnapshots(root);
  expect(await snapshots.record('quota-snapshot', 1)).toMatchObject({ kind: 'snapshot', files: 1, bytes: 'in the image'.length });
  expect(mountsUnder(root)).toContain(dir);
  const choice = await snapshots.resolve('quota-snapshot', 1, [1], async () => undefined);
  if (choice.kind === 'unavailable') throw new Error('no snapshot');
  const fork = openSessionWorkspace(root, 'quota-snapshot-fork').dir;
  await snapshots.restore(choice, 'quota-snapshot-fork', fork, 1);
  expect(readFileSync(path.join(fork, 'inside.txt'), 'utf8')).toBe('in the image');

  removeSessionWorkspace(root, 'quota-snapshot');
  expect(mountsUnder(root)).not.toContain(dir);
  expect(existsSync(dir)).toBe(false);
  expect(existsSync(path.join(root, '.quota', `${workspaceFolderName('quota-snapshot')}.ext4`))).toBe(false);
  expect(readdirSync(snapshots.storeDir('quota-snapshot'))).toEqual(['removed']); // a tombstone for later forks
  // The fork keeps its copy and its own first snapshot.
  expect(readFileSync(path.join(fork, 'inside.txt'), 'utf8')).toBe('in the image');
  expect(snapshots.usage('quota-snapshot-fork')).toMatchObject({ snapshots: 1, records: 1 });
});
