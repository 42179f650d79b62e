/**
 * Workspaces are loop-mounted filesystems (sandbox/quota.ts). A worker that stops leaves none of its
 * mounts behind (the data folder can be deleted), and its sessions go on on the next worker.
 */
import { readFileSync } from 'node:fs';
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
