/**
 * The approver directory (runtime/approvers.ts) and the policy the workflow receives: a file, an object or
 * a hook; invalid ones are refused with the file and the field named. Pure: no server.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { agentSpec, defineAgent } from '../runtime/agent';
import { approvalAuthPolicy, identityOf, loadApproverDirectory, resolveDirectory } from '../runtime/approvers';
import { authorizeDecision } from '../workflows/approval-auth';
import type { ApprovalRecord } from '../workflows/types';
import { TEST_APPROVERS } from './support/agents';

const dir = mkdtempSync(path.join(os.tmpdir(), 'approvers-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const KEY = 'ab'.repeat(32);

test('the test directory resolves to group members and keys', () => {
  const d = loadApproverDirectory(TEST_APPROVERS);
  expect(identityOf(d, 'carol')).toEqual({ id: 'carol', groups: ['support-leads', 'managers'] });
  expect(identityOf(d, 'nobody')).toBeUndefined();
  const policy = approvalAuthPolicy(d, { requireSignature: true });
  expect(policy.members).toEqual({ 'support-leads': ['alice', 'carol'], managers: ['bob', 'carol'] });
  expect(policy.separationOfDuties).toBe(true);
  expect(policy.keys.find((k) => k.keyId === 'http-api')).toEqual({ keyId: 'http-api', publicKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(policy.keys.find((k) => k.keyId === 'alice-key')?.identity).toBe('alice');
});

test.each([
  ['bad.yaml', 'approvers: [ {id: a', /is not valid YAML/],
  ['bad.json', '{"approvers": [', /is not valid JSON/],
  ['short-key.json', JSON.stringify({ approvers: [{ id: 'a', keys: [{ keyId: 'k', publicKey: 'abc' }] }] }), /approvers\.0\.keys\.0\.publicKey: publicKey must be the raw Ed25519 public key/],
  ['dup-key.json', JSON.stringify({ approvers: [{ id: 'a', keys: [{ keyId: 'k', publicKey: KEY }] }], services: [{ keyId: 'k', publicKey: KEY }] }), /keyId 'k' is used twice/],
  ['dup-id.json', JSON.stringify({ approvers: [{ id: 'a' }, { id: 'a' }] }), /approver 'a' is listed twice/],
  ['extra.json', JSON.stringify({ approvers: [{ id: 'a', role: 'admin' }] }), /approvers\.0: Unrecognized key/],
])('%s is refused, naming the file and what is wrong', (name, text, reason) => {
  const p = file(name, text);
  expect(() => loadApproverDirectory(p)).toThrow(reason);
  expect(() => loadApproverDirectory(p)).toThrow(p);
});

test('a missing file names its path; a hook is validated too', () => {
  expect(() => loadApproverDirectory(path.join(dir, 'absent.yaml'))).toThrow(`cannot read the approver directory ${path.join(dir, 'absent.yaml')}`);
  expect(() => resolveDirectory(() => ({ approvers: [{ id: ' padded ' }] }))).toThrow(/returned by the hook is invalid: approvers\.0\.id: approver id has leading or trailing spaces/);
});

test("an agent's spec carries the policy; separation of duties can be turned off", () => {
  const agent = defineAgent({ name: 'x', instructions: 'i', tools: [], approvals: { group: 'managers', auth: { directory: TEST_APPROVERS, separationOfDuties: false } } });
  const policy = agentSpec(agent, 'gpt-4.1-mini').approvals.auth!;
  expect(policy).toMatchObject({ requireSignature: false, separationOfDuties: false });
  const record = { approvalId: 's/1', approverGroup: 'managers', argsHash: KEY } as ApprovalRecord;
  const decide = (approver: string, sessionUserId?: string) =>
    authorizeDecision({ approvalId: 's/1', decision: 'approve', approver }, record, policy, { channel: 'update', now: 0, ...(sessionUserId ? { sessionUserId } : {}) });
  expect(decide('carol', 'carol')).toMatchObject({ ok: true, provenance: { identity: 'carol', verified: false, via: 'update', channel: 'update' } });
  expect(decide('alice')).toEqual({ ok: false, problem: "'alice' is not a member of group 'managers', which is asked to decide approval 's/1'" });
  // Without a policy (agents that do not configure one) anyone named decides, as before.
  expect(authorizeDecision({ approvalId: 's/1', decision: 'approve', approver: 'anyone' }, record, undefined, { channel: 'signal', now: 0 }).ok).toBe(true);
});
