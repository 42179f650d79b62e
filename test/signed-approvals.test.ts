/**
 * Authenticated approvals (patch signed-approvals-v1): Ed25519-signed decisions verified inside the
 * workflow, group membership after escalation, separation of duties, provenance on the record. Real
 * dev server and worker; the signatures come from Node (signDecision) and from Python's `cryptography`
 * (scripts/signers/sign_decision.py), which shares no code with the TypeScript side.
 */
import path from 'node:path';
import { decideApproval, decideApprovalAs, sessionState, signalApproval, startSession, waitForState } from '../client/sessions';
import { identityOf, loadApproverDirectory } from '../runtime/approvers';
import { loadSigningKey, signDecision } from '../runtime/signing';
import { verifyDecisionSignature } from '../workflows/approval-auth';
import type { ApprovalDecision } from '../workflows/messages';
import type { SessionState } from '../workflows/types';
import { oneNoticeScript, TEST_APPROVERS } from './support/agents';
import { createHarness, type Harness } from './support/harness';
import { pythonSign } from './support/python-signer';

const KEYS = path.resolve(__dirname, 'fixtures', 'approvers');
const key = (name: string, keyId = `${name}-key`) => loadSigningKey(path.join(KEYS, `${name}.pem`), keyId);
const dir = loadApproverDirectory(TEST_APPROVERS);
const publicKey = (keyId: string) => [...dir.approvers.flatMap((a) => a.keys), ...dir.services].find((k) => k.keyId === keyId)!.publicKey;

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  h.model.setScript(oneNoticeScript('vip-dee', 'Your card is on its way'));
});
afterAll(async () => h?.close());

type History = Awaited<ReturnType<ReturnType<Harness['client']['workflow']['getHandle']>['fetchHistory']>>;
const updateEvents = (history: History) =>
  (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes);

async function pausedSession(agent: string, userId = 'carol'): Promise<{ sessionId: string; state: SessionState }> {
  const s = await startSession(h.client, { agent, task: 'notify vip-dee', userId }, h.config);
  const state = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  return { sessionId: s.sessionId, state };
}

describe('the signed byte layout', () => {
  test('a Python signature verifies with the workflow verifier; another key, other arguments or another approval do not', () => {
    const decision = { approvalId: 'session-x/3', argsHash: 'ab'.repeat(32), decision: 'approve', approver: 'alice', editedArgs: { text: 'héllo ✓', n: 2, z: [1, { b: 1, a: 2 }] } };
    const expiresAt = '2030-01-01T00:00:00.000Z';
    const signed = pythonSign({ pem: path.join(KEYS, 'alice.pem'), keyId: 'alice-key', expiresAt, decision });
    const fields = { ...decision, decision: 'approve' as const, expiresAt };
    expect(verifyDecisionSignature(fields, signed.signature as string, publicKey('alice-key'))).toBe(true);
    // Node's signDecision produces the same signature (Ed25519 is deterministic): the layouts agree byte for byte.
    const node = signDecision({ ...decision, decision: 'approve' }, key('alice'), { now: new Date(Date.parse(expiresAt) - 300_000) });
    expect(node.signature).toBe(signed.signature);
    expect(verifyDecisionSignature(fields, signed.signature as string, publicKey('bob-key'))).toBe(false);
    expect(verifyDecisionSignature({ ...fields, editedArgs: { ...decision.editedArgs, n: 3 } }, signed.signature as string, publicKey('alice-key'))).toBe(false);
    expect(verifyDecisionSignature({ ...fields, approvalId: 'session-x/4' }, signed.signature as string, publicKey('alice-key'))).toBe(false);
  });
});

describe('an agent that requires signed decisions', () => {
  test('unsigned, unknown-key, wrong-key, tampered, expired, replayed and own-session decisions are refused with nothing in history', async () => {
    const { sessionId, state } = await pausedSession('signed-notifier');
    const a = state.pendingApprovals[0];
    const base = { approvalId: a.approvalId, decision: 'approve' as const, approver: 'alice', argsHash: a.argsHash };
    const refused: Array<[ApprovalDecision, RegExp]> = [
      [base, /requires signed decisions/],
      [{ ...signDecision(base, key('mallory', 'mallory-key')) }, /unknown signing key 'mallory-key'/],
      // Mallory's signature presented under alice's key id.
      [{ ...signDecision(base, key('mallory', 'alice-key')) }, /bad signature by key 'alice-key'/],
      // Signed over the original arguments, sent with edited ones.
      [{ ...signDecision(base, key('alice')), editedArgs: { recipient: 'vip-dee', text: 'changed' } }, /bad signature/],
      [signDecision(base, key('alice'), { now: new Date(Date.now() - 3_600_000) }), /signature expired at/],
      // A valid signature for another approval, replayed here.
      [{ ...signDecision({ ...base, approvalId: `${sessionId}/999` }, key('alice')), approvalId: a.approvalId }, /bad signature/],
      // carol is in the group but started the session.
      [signDecision({ ...base, approver: 'carol' }, key('carol')), /separation of duties: 'carol' started this session/],
      // bob's own key, but bob is not in support-leads.
      [signDecision({ ...base, approver: 'bob' }, key('bob')), /'bob' is not a member of group 'support-leads'/],
      // alice's key cannot sign for bob.
      [signDecision({ ...base, approver: 'bob' }, key('alice')), /key 'alice-key' belongs to 'alice', not to approver 'bob'/],
    ];
    for (const [decision, reason] of refused) {
      await expect(decideApproval(h.client, sessionId, decision)).rejects.toThrow(reason);
    }
    expect(updateEvents(await h.client.workflow.getHandle(sessionId).fetchHistory())).toHaveLength(0);
    expect((await sessionState(h.client, sessionId)).status).toBe('awaiting_approval');

    // A wrongly signed signal changes nothing; the reason is kept where operators look.
    await signalApproval(h.client, sessionId, signDecision(base, key('mallory', 'alice-key')));
    const after = await waitForState(h.client, sessionId, (x) => x.rejectedMessages.length > 0);
    expect(after.rejectedMessages[0].reason).toMatch(/bad signature by key 'alice-key'/);
    expect(after.status).toBe('awaiting_approval');

    // The Python-signed decision by alice, as a signal: approved, with who, which key and how recorded.
    const signed = pythonSign({ pem: path.join(KEYS, 'alice.pem'), keyId: 'alice-key', expiresAt: new Date(Date.now() + 300_000).toISOString(), decision: { ...base, via: 'service' } });
    await signalApproval(h.client, sessionId, signed as unknown as ApprovalDecision);
    const done = await waitForState(h.client, sessionId, (x) => x.status === 'completed');
    expect(done.approvals[0]).toMatchObject({
      status: 'approved',
      approver: 'alice',
      decidedBy: { identity: 'alice', keyId: 'alice-key', verified: true, via: 'service', channel: 'signal' },
    });
    expect(h.sent(sessionId).map((x) => x.applicantId)).toEqual(['vip-dee']);
  });

  test('a service key (the HTTP API) signs for an identity from the directory; the record says http and update', async () => {
    const { sessionId, state } = await pausedSession('signed-notifier', 'dan');
    const alice = identityOf(dir, 'alice')!;
    const record = await decideApprovalAs(
      h.client,
      sessionId,
      { approvalId: state.pendingApprovals[0].approvalId, decision: 'reject', comment: 'not today' },
      { identity: alice, via: 'http', key: key('http-api', 'http-api') },
    );
    expect(record).toMatchObject({ status: 'rejected', decidedBy: { identity: 'alice', keyId: 'http-api', verified: true, via: 'http', channel: 'update' } });
  });
});

describe('groups without signatures', () => {
  test('after escalation only the new group decides; the record says the decision was unsigned', async () => {
    const { sessionId, state } = await pausedSession('group-notifier', 'dan');
    const approvalId = state.pendingApprovals[0].approvalId;
    await waitForState(h.client, sessionId, (x) => x.pendingApprovals[0]?.approverGroup === 'managers', { timeoutMs: 15_000 });
    await expect(decideApproval(h.client, sessionId, { approvalId, decision: 'approve', approver: 'alice' })).rejects.toThrow(
      /'alice' is not a member of group 'managers'/,
    );
    await expect(decideApproval(h.client, sessionId, { approvalId, decision: 'approve', approver: 'nobody-in-particular' })).rejects.toThrow(/not a member/);
    const record = await decideApproval(h.client, sessionId, { approvalId, decision: 'approve', approver: 'bob', via: 'cli' });
    expect(record).toMatchObject({ status: 'approved', approver: 'bob', decidedBy: { identity: 'bob', verified: false, via: 'cli', channel: 'update' } });
    expect(record.decidedBy?.keyId).toBeUndefined();
  });
});
