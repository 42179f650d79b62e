/**
 * Trust class 6: everything a caller sends into a session is bounded and checked before it is applied; a
 * hostile message is refused (Update) or recorded briefly (signal), never fails a workflow task, and the
 * state query stays small whatever the session holds. Real dev server and worker.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { sessionState, signalApproval, startSession, waitForState } from '../../client/sessions';
import { LIMITS } from '../../workflows/limits';
import { approvalSignal, decideApprovalUpdate, stateQuery } from '../../workflows/messages';
import { createHarness, type Harness } from '../support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
}

test('huge and deeply nested decisions are refused without failing a workflow task; the session still completes', async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool') ? { content: 'sent' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'hello' } }] },
  );
  const s = await startSession(h.client, { agent: 'notifier', task: 'notify' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  const approvalId = st.pendingApprovals[0].approvalId;
  const handle = h.client.workflow.getHandle(s.sessionId);

  // Straight to Temporal, as another service or the CLI could send them (no client-side checks).
  await handle.signal(approvalSignal, { approvalId, decision: 'approve', approver: 'x'.repeat(1_400_000) });
  await handle.signal(approvalSignal, { approvalId, decision: 'approve', approver: 'eve', editedArgs: nested(3000) });
  await handle.signal(approvalSignal, { approvalId, decision: 'approve', approver: 'eve', comment: 'c'.repeat(LIMITS.commentChars + 1) });
  const update = await handle.executeUpdate(decideApprovalUpdate, { args: [{ approvalId, decision: 'approve', approver: 'y'.repeat(1_400_000) }] }).catch((e: unknown) => e);
  expect(update).toBeInstanceOf(WorkflowUpdateFailedError);
  expect(String((update as WorkflowUpdateFailedError).cause?.message)).toBe(`malformed approval: approver is 1400000 characters; at most ${LIMITS.identityChars} are allowed`);

  const after = await waitForState(h.client, s.sessionId, (x) => x.rejectedMessages.length === 3);
  expect(after.status).toBe('awaiting_approval');
  expect(after.rejectedMessages.map((m) => m.reason)).toEqual([
    `malformed approval: approver is 1400000 characters; at most ${LIMITS.identityChars} are allowed`,
    `malformed approval: editedArgs is nested deeper than ${LIMITS.editedArgsDepth} levels; flatten it`,
    `malformed approval: comment is ${LIMITS.commentChars + 1} characters; at most ${LIMITS.commentChars} are allowed`,
  ]);
  // Nothing the caller sent is echoed unbounded into state.
  expect(JSON.stringify(after).length).toBeLessThan(50_000);

  await signalApproval(h.client, s.sessionId, { approvalId, decision: 'approve', approver: 'alice' });
  expect((await s.handle.result()).status).toBe('completed');
  const events = (await handle.fetchHistory()).events ?? [];
  expect(events.filter((e) => e.workflowTaskFailedEventAttributes)).toHaveLength(0);
  expect(h.sent(s.sessionId)).toHaveLength(1);
});

test('the state query pages the transcript and stays small however long the session', async () => {
  const steps = LIMITS.stateTranscriptEntries + 60;
  h.model.setScript((req) => {
    const calls = req.messages.filter((m) => m.role === 'tool').length;
    return calls < steps ? { toolCalls: [{ name: 'add', arguments: { a: calls, b: 1 } }] } : { content: 'x'.repeat(100_000) };
  });
  const s = await startSession(h.client, { agent: 'calculator', task: 'count' }, h.config);
  await s.handle.result();
  const st = await sessionState(h.client, s.sessionId);
  expect(st.transcript).toHaveLength(LIMITS.stateTranscriptEntries);
  expect(st.transcriptOmitted).toBe(2 + steps * 2 + 1 - LIMITS.stateTranscriptEntries);
  expect(st.transcript[st.transcript.length - 1].text).toHaveLength(100_000); // the newest entry, whole
  // Older entries page in with transcriptBefore.
  const older = await h.client.workflow.getHandle(s.sessionId).query(stateQuery, { transcriptBefore: st.transcript[0].seq, transcriptLimit: 50 });
  expect(older.transcript).toHaveLength(50);
  expect(older.transcript[older.transcript.length - 1].seq).toBeLessThan(st.transcript[0].seq);
  expect(JSON.stringify(st).length).toBeLessThan(LIMITS.stateTranscriptBytes + 64 * 1024);
});
