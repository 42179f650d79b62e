/**
 * Small contracts of sessions, on a real dev server: per-agent approval policies for a shared tool, an
 * approver's edit told to the model, "approve for the rest of this session" (also across
 * continue-as-new), and write-effect tools running as regular activities.
 */
import { decideApproval, sessionState, startSession, waitForState } from '../client/sessions';
import { messageText, type ChatRequest } from '../runtime/scripted-model';
import { EDITED_ARGS_PATCH, SESSION_GRANTS_PATCH } from '../workflows/agentSession';
import { activityCalls } from './support/history';
import { createHarness, type Harness } from './support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

const toolResults = (req: ChatRequest | undefined): string[] => (req?.messages ?? []).filter((m) => m.role === 'tool').map(messageText);

/** Whether a patch marker with this id is in the history (the base64 of `{"id":"<patch>` is stable). */
function hasPatchMarker(history: { events?: Array<{ markerRecordedEventAttributes?: { details?: Record<string, { payloads?: Array<{ data?: Uint8Array | null }> | null }> | null } | null }> | null }, patch: string): boolean {
  return (history.events ?? []).some((e) =>
    Object.values(e.markerRecordedEventAttributes?.details ?? {}).some((p) => (p.payloads ?? []).some((x) => Buffer.from(x.data ?? []).toString('utf8').includes(patch))),
  );
}

test('per-agent approval policy: the same shared tool needs approval in one agent and none in another', async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool') ? { content: 'sent' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-zed', text: 'hi' } }] },
  );
  // The tool's own policy asks for VIP recipients; the lenient agent's override never asks.
  const lenient = await startSession(h.client, { agent: 'lenient-notifier', task: 'notify vip-zed' }, h.config);
  expect(await lenient.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'sent' });
  expect((await sessionState(h.client, lenient.sessionId)).approvals).toEqual([]);

  // The strict agent's override asks even for a non-VIP, under its own policy version.
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool') ? { content: 'sent' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'ann', text: 'hi' } }] },
  );
  const strict = await startSession(h.client, { agent: 'strict-notifier', task: 'notify ann' }, h.config);
  const st = await waitForState(h.client, strict.sessionId, (x) => x.status === 'awaiting_approval');
  expect(st.pendingApprovals[0]).toMatchObject({ tool: 'send_notice', policyVersion: 'strict-1', reason: 'send_notice always requires approval' });
  await decideApproval(h.client, strict.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'lead' });
  expect(await strict.handle.result()).toMatchObject({ status: 'completed' });
  expect(h.sent(strict.sessionId)).toHaveLength(1);
});

test("an approver's edit of the arguments is told to the model with the result; write tools run as regular activities", async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool') ? { content: 'done' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'Refund 500 EUR' } }] },
  );
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  await decideApproval(h.client, s.sessionId, {
    approvalId: st.pendingApprovals[0].approvalId,
    decision: 'approve',
    approver: 'lead',
    editedArgs: { recipient: 'vip-ann', text: 'Refund 50 EUR' },
  });
  await s.handle.result();
  const [result] = toolResults(h.model.requests[before + 1]);
  expect(result).toBe(
    '[Note: lead changed the arguments before approving. You proposed {"recipient":"vip-ann","text":"Refund 500 EUR","holdMs":0}; the call ran with {"recipient":"vip-ann","text":"Refund 50 EUR","holdMs":0}.]\n{"delivered":"vip-ann"}',
  );
  expect(h.sent(s.sessionId).map((d) => d.reason)).toEqual(['Refund 50 EUR']);
  const history = await s.handle.fetchHistory();
  expect(hasPatchMarker(history, EDITED_ARGS_PATCH)).toBe(true);
  // effects: 'write' -> a regular activity (its attempts are recorded on the server), never a local one.
  expect(activityCalls(history).filter((c) => c.type === 'runTool').map((c) => c.local)).toEqual([false]);
});

test('approve for the rest of this session: later calls of the tool run without asking, also after continue-as-new', async () => {
  // One notice per model step; strict-notifier continues as new every 2 steps.
  h.model.setScript((req) => {
    const n = req.messages.filter((m) => m.role === 'tool').length;
    return n < 3 ? { toolCalls: [{ name: 'send_notice', arguments: { recipient: `r${n}`, text: `notice ${n}` } }] } : { content: `sent ${n}` };
  });
  const s = await startSession(h.client, { agent: 'strict-notifier', task: 'send three notices' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  const first = st.pendingApprovals[0];
  const decided = await decideApproval(h.client, s.sessionId, { approvalId: first.approvalId, decision: 'approve', approver: 'lead', comment: 'fine today', scope: 'session' });
  expect(decided).toMatchObject({ status: 'approved', scope: 'session' });

  const result = await h.client.workflow.getHandle(s.sessionId).result();
  expect(result).toMatchObject({ status: 'completed', finalAnswer: 'sent 3' });
  expect(h.sent(s.sessionId).map((d) => d.applicantId)).toEqual(['r0', 'r1', 'r2']);
  const end = await sessionState(h.client, s.sessionId);
  expect(end.run).toBeGreaterThanOrEqual(2); // the grant crossed continue-as-new
  expect(end.sessionGrants).toEqual([
    { tool: 'send_notice', policyVersion: 'strict-1', approver: 'lead', approvalId: first.approvalId, grantedAt: expect.any(String), comment: 'fine today' },
  ]);
  // The calls after the grant are on record as approved by it; nobody was asked.
  const byGrant = end.approvals.filter((a) => a.scope === 'grant');
  expect(byGrant.map((a) => [a.status, a.approver, a.comment])).toEqual([
    ['approved', 'lead', `approved for this session (${first.approvalId})`],
    ['approved', 'lead', `approved for this session (${first.approvalId})`],
  ]);
  const lastRun = await h.client.workflow.getHandle(s.sessionId).fetchHistory();
  expect(hasPatchMarker(lastRun, SESSION_GRANTS_PATCH)).toBe(true);
});

test('a session grant also approves the other waiting call of that tool in the same turn', async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool')
      ? { content: 'both sent' }
      : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'p1', text: 'a' } }, { name: 'send_notice', arguments: { recipient: 'p2', text: 'b' } }] },
  );
  const s = await startSession(h.client, { agent: 'strict-notifier', task: 'two notices at once' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.pendingApprovals.length === 2);
  await decideApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'lead', scope: 'session' });
  expect(await s.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'both sent' });
  expect(h.sent(s.sessionId).map((d) => d.applicantId).sort()).toEqual(['p1', 'p2']);
  const end = await sessionState(h.client, s.sessionId);
  expect(end.approvals.map((a) => [a.approvalId, a.scope])).toEqual([
    [st.pendingApprovals[0].approvalId, 'session'],
    [st.pendingApprovals[1].approvalId, 'grant'],
  ]);
});

test('a session grant does not cover another policy version, and reject cannot carry scope session', async () => {
  h.model.setScript((req) =>
    req.messages.some((m) => m.role === 'tool') ? { content: 'ok' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-q', text: 'x' } }] },
  );
  const s = await startSession(h.client, { agent: 'notifier', task: 'notify vip-q' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  await expect(
    decideApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'reject', approver: 'lead', scope: 'session' }),
  ).rejects.toThrow("decision refused: malformed approval: scope 'session' only goes with approve");
  await decideApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'reject', approver: 'lead' });
  expect(await s.handle.result()).toMatchObject({ status: 'completed' });
  expect((await sessionState(h.client, s.sessionId)).sessionGrants).toBeUndefined();
});
