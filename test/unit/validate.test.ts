/**
 * The workflow's hand-written message checks (no zod in the workflow bundle) against the zod schemas the
 * edges use: on a few thousand generated inputs, valid and hostile, both must give the same verdict.
 * Pure unit tests: no server.
 */
import type { z } from 'zod';
import { ApprovalDecision, BudgetTopUp, ChatMessage, EndRequest, ExternalEvent } from '../../runtime/message-schemas';
import { LIMITS } from '../../workflows/limits';
import { checkApprovalDecision, checkBudgetTopUp, checkChatMessage, checkDelegateArgs, checkEndRequest, checkExternalEvent, jsonShapeProblem, type Checked } from '../../workflows/validate';
import { DelegateArgs } from '../../runtime/delegates';

/** Small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deep(levels: number): unknown {
  let v: unknown = { leaf: 1 };
  for (let i = 0; i < levels; i++) v = { next: v };
  return v;
}

const long = (n: number): string => 'x'.repeat(n);
const HASH = 'a'.repeat(64);

/** Candidate values per field: valid ones first, then the kinds of wrong a caller sends. */
const pools: Record<string, unknown[]> = {
  approvalId: ['s-1/9', 'x', long(LIMITS.approvalIdChars), '', long(LIMITS.approvalIdChars + 1), 7, null, ['s/1']],
  decision: ['approve', 'reject', 'maybe', '', 1, null],
  approver: ['alice', ' bob ', long(LIMITS.identityChars), '', '   ', long(LIMITS.identityChars + 1), 3, null, {}],
  comment: ['fine', '', long(LIMITS.commentChars), long(LIMITS.commentChars + 1), 5, null],
  argsHash: [HASH, '0123456789abcdef'.repeat(4), 'A'.repeat(64), 'a'.repeat(63), 'g'.repeat(64), 12, null],
  editedArgs: [
    { amount: 3 },
    {},
    { nested: { list: [1, 2, { a: 'b' }] } },
    deep(LIMITS.editedArgsDepth - 2),
    deep(LIMITS.editedArgsDepth + 5),
    deep(5000),
    { big: long(LIMITS.editedArgsBytes) },
    { many: Array.from({ length: LIMITS.editedArgsNodes + 5 }, (_, i) => i) },
    { [long(LIMITS.editedArgsKeyChars + 1)]: 1 },
    { bad: Number.NaN },
    { inf: Number.POSITIVE_INFINITY },
    [1, 2],
    'args',
    null,
    5,
  ],
  scope: ['session', 'call', 'forever', '', 1, null],
  keyId: ['alice-2026', 'svc:http', 'k', long(LIMITS.keyIdChars), '', long(LIMITS.keyIdChars + 1), 'has space', 'é', 3, null],
  signature: ['ab'.repeat(64), '0f'.repeat(64), 'AB'.repeat(64), 'ab'.repeat(63), 'zz'.repeat(64), '', 9, null],
  expiresAt: ['2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00Z', '2030-02-31T00:00:00Z', '2030-13-01T00:00:00Z', '2030-01-01', 'tomorrow', '', 1893456000000, null],
  via: ['http', 'cli', 'service', 'signal', 'email', '', 1, null],
  text: ['hello', ' x ', long(LIMITS.chatMessageChars), '', '   ', long(LIMITS.chatMessageChars + 1), 42, null],
  addSteps: [1, 10, LIMITS.topUpSteps, 0, -1, 1.5, LIMITS.topUpSteps + 1, Number.NaN, '5', null],
  addTokens: [1000, LIMITS.topUpTokens, 0, -5, 2.5, LIMITS.topUpTokens + 1, Number.POSITIVE_INFINITY, null],
  addCostUsd: [0.5, 1, LIMITS.topUpCostUsd, 0, -0.1, LIMITS.topUpCostUsd + 1, Number.NaN, null],
  reason: ['done', '', long(LIMITS.endReasonChars), long(LIMITS.endReasonChars + 1), 3, null],
  by: ['ops', '', long(LIMITS.identityChars), long(LIMITS.identityChars + 1), false],
  name: ['payment_received', 'doc.signed-2', 'a', long(LIMITS.eventNameChars), '', long(LIMITS.eventNameChars + 1), 'Payment', 'has space', '-x', 'é', 4, null],
  payload: [
    { amount: 120, currency: 'EUR' },
    'paid',
    42,
    null,
    [1, 2],
    { big: long(LIMITS.eventPayloadBytes) },
    deep(LIMITS.eventPayloadDepth + 2),
    { many: Array.from({ length: LIMITS.eventPayloadNodes + 5 }, (_, i) => i) },
    { bad: Number.NaN },
  ],
  id: ['pay-1', long(LIMITS.eventIdChars), '', long(LIMITS.eventIdChars + 1), 7, null],
  task: ['find the cheapest flight', ' x ', long(LIMITS.delegateTaskChars), '', '   ', '\n\t', long(LIMITS.delegateTaskChars + 1), 3, null, ['a']],
  extra: ['surprise'],
};

function generate(next: () => number, fields: string[], count: number): unknown[] {
  const out: unknown[] = [null, undefined, 'string', 42, [], [{}], {}];
  for (let i = 0; i < count; i++) {
    const obj: Record<string, unknown> = {};
    for (const f of [...fields, 'extra']) {
      // Mostly valid values with some wrong ones, and sometimes the field is missing (or the extra one present).
      const include = f === 'extra' ? next() < 0.05 : next() < 0.85;
      if (!include) continue;
      const pool = pools[f];
      obj[f] = next() < 0.6 ? pool[Math.floor(next() * Math.min(pool.length, 3))] : pool[Math.floor(next() * pool.length)];
    }
    out.push(obj);
  }
  return out;
}

function agree<T>(name: string, inputs: unknown[], hand: (raw: unknown) => Checked<T>, schema: z.ZodType): { accepted: number; refused: number } {
  let accepted = 0;
  let refused = 0;
  for (const raw of inputs) {
    const mine = hand(raw);
    const theirs = schema.safeParse(raw).success;
    if (mine.ok !== theirs) {
      throw new Error(`${name}: hand-written says ${mine.ok ? 'ok' : `refused (${mine.problem})`}, zod says ${theirs ? 'ok' : 'refused'} for ${JSON.stringify(raw)?.slice(0, 300)}`);
    }
    if (mine.ok) accepted++;
    else refused++;
  }
  return { accepted, refused };
}

test.each([
  ['approval decision', ['approvalId', 'decision', 'approver', 'comment', 'argsHash', 'editedArgs', 'scope'], checkApprovalDecision, ApprovalDecision],
  ['signed approval decision', ['approvalId', 'decision', 'approver', 'argsHash', 'keyId', 'signature', 'expiresAt', 'via'], checkApprovalDecision, ApprovalDecision],
  ['chat message', ['text'], checkChatMessage, ChatMessage],
  ['budget top-up', ['approver', 'addSteps', 'addTokens', 'addCostUsd', 'comment'], checkBudgetTopUp, BudgetTopUp],
  ['end request', ['reason', 'by'], checkEndRequest, EndRequest],
  ['external event', ['name', 'payload', 'id'], checkExternalEvent, ExternalEvent],
  ['delegated task', ['task'], checkDelegateArgs, DelegateArgs],
] as const)('%s: the workflow check and the zod schema agree', (name, fields, hand, schema) => {
  // Signed decisions need eight fields right at once: a bigger corpus so enough of them are valid.
  const inputs = generate(rng(name.length * 7919), [...fields], name.startsWith('signed') ? 8000 : 1500);
  const { accepted, refused } = agree(name, inputs, hand as (raw: unknown) => Checked<unknown>, schema as z.ZodType);
  // The corpus must exercise both verdicts, or the comparison proves nothing.
  expect(accepted).toBeGreaterThan(20);
  expect(refused).toBeGreaterThan(20);
});

test('refusals name the field and the bound', () => {
  const r = checkApprovalDecision({ approvalId: 'a/1', decision: 'approve', approver: long(1_400_000) });
  expect(r).toEqual({ ok: false, problem: `approver is 1400000 characters; at most ${LIMITS.identityChars} are allowed` });
  const d = checkApprovalDecision({ approvalId: 'a/1', decision: 'approve', approver: 'x', editedArgs: deep(100_000) });
  expect(d.ok || d.problem).toMatch(/nested deeper than 12 levels/);
});

test("approve-for-session: scope is 'call' or 'session', and 'session' only with approve", () => {
  const base = { approvalId: 'a/1', approver: 'x' };
  expect(checkApprovalDecision({ ...base, decision: 'approve', scope: 'session' }).ok).toBe(true);
  expect(checkApprovalDecision({ ...base, decision: 'reject', scope: 'session' })).toEqual({ ok: false, problem: "scope 'session' only goes with approve" });
  expect(checkApprovalDecision({ ...base, decision: 'approve', scope: 'forever' })).toEqual({ ok: false, problem: "scope must be 'call' or 'session'" });
  expect(ApprovalDecision.safeParse({ ...base, decision: 'reject', scope: 'session' }).success).toBe(false);
  expect(ApprovalDecision.safeParse({ ...base, decision: 'reject', scope: 'call' }).success).toBe(true);
});

test('the shape check costs what the bounds allow, not what the input holds', () => {
  // 100k levels and 1M-element arrays: a recursive walk or JSON.stringify would overflow or take long.
  expect(jsonShapeProblem(deep(100_000), 'x')).toMatch(/nested deeper/);
  expect(jsonShapeProblem({ a: new Array(1_000_000).fill(0) }, 'x')).toMatch(/more than 10000 values/);
});
