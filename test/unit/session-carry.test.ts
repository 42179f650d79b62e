/**
 * Carries across continue-as-new are versioned: today's code must continue a session whose previous
 * run was written by older code. The old shape here is the real one, taken from a recorded history.
 */
import { buildCarry, CARRY_VERSION, DECIDED_APPROVALS_KEPT, initialState, migrateCarry, TRANSCRIPT_KEPT_ON_CONTINUE } from '../../workflows/session/carry';
import type { ApprovalRecord, CarriedState } from '../../workflows/types';
import { recordedV1Carry } from '../support/recorded-carry';

test('a recorded v1 carry (no carryVersion, no lastPromptTokens) migrates to the current version', () => {
  const { input } = recordedV1Carry();
  expect(input.carry.carryVersion).toBeUndefined();
  expect(input.carry.lastPromptTokens).toBeUndefined();
  const migrated = migrateCarry(input.carry);
  if (!migrated.ok) throw new Error(migrated.problem);
  expect(migrated.carry.carryVersion).toBe(CARRY_VERSION);
  expect(migrated.carry.lastPromptTokens).toBe(0);
  expect(migrated.carry.nextSeq).toBe(8);
  expect(migrated.carry.state.steps).toBe(3);
  expect(migrated.carry.state.transcript).toHaveLength(8);
  expect(migrated.carry.state.sessionGrants).toBeUndefined();
});

test('a carry missing lists that older versions did not write gets empty ones', () => {
  const migrated = migrateCarry({ state: { sessionId: 's', agent: 'a', mode: 'task', status: 'running', steps: 0, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, costUsd: 0, budget: {}, run: 1 }, nextSeq: 2 });
  if (!migrated.ok) throw new Error(migrated.problem);
  expect(migrated.carry).toMatchObject({ pending: [], inbox: [], topUps: {}, needInput: false, state: { rejectedMessages: [], approvals: [], pendingApprovals: [], transcript: [], topUps: [], transcriptFrom: 0 } });
});

test('a carry from a newer worker or of the wrong shape is refused with the reason', () => {
  expect(migrateCarry({ carryVersion: CARRY_VERSION + 1, state: {} })).toEqual({ ok: false, problem: expect.stringContaining('newer than this worker understands') });
  expect(migrateCarry({ carryVersion: 'x', state: {} })).toEqual({ ok: false, problem: expect.stringContaining('carryVersion must be a positive integer') });
  expect(migrateCarry(null)).toEqual({ ok: false, problem: 'carried state must be an object with a state' });
});

test('a carry written today round-trips unchanged through the migration', () => {
  const state = initialState('s1', { agent: 'a' });
  state.sessionGrants = [{ tool: 't', policyVersion: '1', approver: 'ann', approvalId: 's1/3', grantedAt: '2026-01-01T00:00:00.000Z' }];
  for (let seq = 0; seq < TRANSCRIPT_KEPT_ON_CONTINUE + 5; seq++) state.transcript.push({ seq: TRANSCRIPT_KEPT_ON_CONTINUE + 4 - seq, role: 'user', text: String(seq) });
  const decided = (i: number): ApprovalRecord => ({ approvalId: `s1/${i}`, status: 'approved' } as ApprovalRecord);
  state.approvals = [...Array.from({ length: DECIDED_APPROVALS_KEPT + 3 }, (_, i) => decided(i)), { approvalId: 's1/p', status: 'pending' } as ApprovalRecord];
  const carry: CarriedState = buildCarry({ state, nextSeq: 300, pending: [], inbox: [], topUps: { maxSteps: 1 }, needInput: true, lastPromptTokens: 12 });
  expect(carry.carryVersion).toBe(CARRY_VERSION);
  expect(carry.state.transcript).toHaveLength(TRANSCRIPT_KEPT_ON_CONTINUE);
  expect(carry.state.transcriptFrom).toBe(5);
  expect(carry.state.approvals[0].approvalId).toBe('s1/p');
  expect(carry.state.approvals).toHaveLength(DECIDED_APPROVALS_KEPT + 1);
  expect(carry.state.sessionGrants).toEqual(state.sessionGrants);
  const roundTrip = migrateCarry(JSON.parse(JSON.stringify(carry)));
  expect(roundTrip).toEqual({ ok: true, carry: JSON.parse(JSON.stringify(carry)) });
});
