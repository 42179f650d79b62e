/**
 * The pure rules of the session loop (workflows/session/*), tested without a Temporal server: budget
 * arithmetic, sequence numbers, approval records, the visible status, bounded parallelism.
 */
import { addTopUp, addUsage, budgetProblem, limitsInForce } from '../../workflows/session/budget';
import { Ledger } from '../../workflows/session/ledger';
import { addGrant, approvalLevels, approvePendingByGrant, decisionProblem, editedArgsNote, escalate, grantedRecord, grantFor, newApprovalRecord, notRunText, recordDecision, transcriptApproval, withdrawPending } from '../../workflows/session/approvals';
import { LIMITS } from '../../workflows/limits';
import { isClosed, nextStatus, pendingMemo, statusDetails } from '../../workflows/session/status';
import { inParallel } from '../../workflows/session/parallel';
import { initialState } from '../../workflows/session/carry';
import type { ApprovalRecord, Budget, CheckedToolCall, PendingMessage, SessionGrant, TranscriptEntry } from '../../workflows/types';

const HASH = 'a'.repeat(64);
const call: CheckedToolCall = { id: 'c1', name: 'send', args: { to: 'x' }, summary: 'send(to x)', approval: { reason: 'always', argsHash: HASH, policyVersion: '1' } };
const routing = { group: 'leads', timeoutMs: 60_000, escalation: [{ group: 'managers', timeoutMs: 120_000 }] };

describe('budget', () => {
  test('limits in force are the agent budget plus top-ups; unset limits stay unlimited', () => {
    expect(limitsInForce({ maxSteps: 5, maxCostUsd: 1 }, { maxSteps: 3, maxTokens: 100 })).toEqual({ maxSteps: 8, maxCostUsd: 1 });
    expect(limitsInForce({}, { maxSteps: 3 })).toEqual({});
  });

  test('the first limit reached is named; none while there is room', () => {
    const state = { budget: { maxSteps: 2, maxTokens: 100, maxCostUsd: 0.5 }, steps: 1, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 10 }, costUsd: 0 };
    expect(budgetProblem(state)).toBeUndefined();
    expect(budgetProblem({ ...state, steps: 2 })).toBe('maxSteps 2 reached');
    expect(budgetProblem({ ...state, usage: { ...state.usage, totalTokens: 100 } })).toBe('maxTokens 100 reached (100 used)');
    expect(budgetProblem({ ...state, costUsd: 0.5 })).toBe('maxCostUsd 0.5 reached ($0.5000 spent)');
  });

  test('top-ups accumulate and report only what they add', () => {
    const totals: Budget = {};
    expect(addTopUp(totals, { approver: 'a', addSteps: 2 })).toEqual({ maxSteps: 2 });
    expect(addTopUp(totals, { approver: 'a', addSteps: 3, addCostUsd: 0.25 })).toEqual({ maxSteps: 3, maxCostUsd: 0.25 });
    expect(totals).toEqual({ maxSteps: 5, maxTokens: 0, maxCostUsd: 0.25 });
  });

  test('usage adds tokens and prices them per million', () => {
    const state = { usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 }, costUsd: 0 };
    addUsage(state, { promptTokens: 1_000_000, completionTokens: 500_000, totalTokens: 1_500_000 }, { inputPerMTokUsd: 2, outputPerMTokUsd: 8 });
    expect(state.usage).toEqual({ promptTokens: 1_000_001, completionTokens: 500_001, totalTokens: 1_500_002 });
    expect(state.costUsd).toBeCloseTo(6);
  });
});

describe('ledger', () => {
  test('every message gets the next seq; pending messages are flushed once and can be put back', () => {
    const transcript: TranscriptEntry[] = [];
    const pending: PendingMessage[] = [];
    const ledger = new Ledger(7, pending, transcript);
    expect(ledger.addMessage({ role: 'user', content: 'hi' }, { role: 'user', text: 'hi' })).toBe(7);
    expect(ledger.take()).toBe(8);
    ledger.toolNote(8, { id: 'c', name: 't' }, 'Error: x');
    expect(transcript.map((e) => [e.seq, e.role, e.ok])).toEqual([[7, 'user', undefined], [8, 'tool', false]]);
    const flushed = ledger.flush();
    expect(flushed.map((m) => m.seq)).toEqual([7, 8]);
    expect(pending).toHaveLength(0);
    ledger.unflush(flushed);
    expect(ledger.flush()).toEqual(flushed);
    expect(ledger.nextSeq).toBe(9);
  });

  test('parallel tool notes are sorted by seq before they are stored', () => {
    const ledger = new Ledger(0, [], []);
    ledger.toolNote(5, { id: 'b', name: 't' }, 'b');
    ledger.toolNote(3, { id: 'a', name: 't' }, 'a');
    ledger.sortPending();
    expect(ledger.flush().map((m) => m.seq)).toEqual([3, 5]);
  });
});

describe('approvals', () => {
  const fresh = (): ApprovalRecord => newApprovalRecord('s1', 4, call, routing, new Date('2026-01-01T00:00:00Z'));

  test('a request is addressed to the first group with its deadline', () => {
    const r = fresh();
    expect(r).toMatchObject({ approvalId: 's1/4', tool: 'send', argsHash: HASH, approverGroup: 'leads', deadline: '2026-01-01T00:01:00.000Z', status: 'pending' });
    expect(approvalLevels(routing).map((l) => l.group)).toEqual(['leads', 'managers']);
  });

  test('escalation moves the request to the next group with a fresh deadline', () => {
    const r = fresh();
    escalate(r, routing.escalation[0], new Date('2026-01-01T00:01:00Z'));
    expect(r.approverGroup).toBe('managers');
    expect(r.deadline).toBe('2026-01-01T00:03:00.000Z');
    expect(r.escalations).toEqual([{ at: '2026-01-01T00:01:00.000Z', from: 'leads', to: 'managers' }]);
    r.status = 'expired';
    expect(notRunText(r, 'leads')).toContain('after asking leads, then managers (default deny)');
  });

  test('a decision is refused when malformed, unknown, already decided or about other arguments', () => {
    const r = fresh();
    const map = new Map([[r.approvalId, r]]);
    expect(decisionProblem(map, { approvalId: 's1/4' })).toMatch(/^malformed approval: /);
    expect(decisionProblem(map, { approvalId: 's1/9', decision: 'approve', approver: 'a' })).toBe("unknown approvalId 's1/9'");
    expect(decisionProblem(map, { approvalId: 's1/4', decision: 'approve', approver: 'a', argsHash: 'b'.repeat(64) })).toMatch(/argsHash does not match/);
    expect(decisionProblem(map, { approvalId: 's1/4', decision: 'approve', approver: 'a', argsHash: HASH })).toBeUndefined();
    r.status = 'approved';
    expect(decisionProblem(map, { approvalId: 's1/4', decision: 'reject', approver: 'a' })).toBe("approval 's1/4' is already approved");
  });

  test('an edited approval keeps the original arguments and says so in the transcript', () => {
    const r = fresh();
    recordDecision(r, { approvalId: r.approvalId, decision: 'approve', approver: ' ann ', comment: 'ok' }, new Date('2026-01-01T00:00:30Z'), { to: 'y' });
    expect(r).toMatchObject({ status: 'approved', approver: 'ann', comment: 'ok', args: { to: 'y' }, originalArgs: { to: 'x' }, decidedAt: '2026-01-01T00:00:30.000Z' });
    expect(transcriptApproval(r)).toEqual({ status: 'approved', approver: 'ann', comment: 'ok', edited: true });
  });

  test('a rejection and a withdrawal are explained to the model', () => {
    const r = fresh();
    recordDecision(r, { approvalId: r.approvalId, decision: 'reject', approver: 'bob', comment: 'too risky' }, new Date());
    expect(notRunText(r, 'leads')).toBe('The call was not run: rejected by bob: too risky.');
    const p = fresh();
    withdrawPending([p, r]);
    expect([p.status, r.status]).toEqual(['withdrawn', 'rejected']);
    expect(notRunText(p, 'leads')).toBe('The call was not run: the session was ended before a decision.');
  });
});

describe('approve for the session', () => {
  const fresh = (): ApprovalRecord => newApprovalRecord('s1', 4, call, routing, new Date('2026-01-01T00:00:00Z'));

  test('a session-scoped approval grants the tool under its policy version, once', () => {
    const r = fresh();
    recordDecision(r, { approvalId: r.approvalId, decision: 'approve', approver: 'ann', scope: 'session' }, new Date('2026-01-01T00:00:10Z'));
    expect(r.scope).toBe('session');
    const state: { sessionGrants?: SessionGrant[] } = {};
    addGrant(state, r, new Date('2026-01-01T00:00:10Z'));
    addGrant(state, r, new Date('2026-01-01T00:00:20Z'));
    expect(state.sessionGrants).toEqual([{ tool: 'send', policyVersion: '1', approver: 'ann', approvalId: 's1/4', grantedAt: '2026-01-01T00:00:10.000Z' }]);
    expect(grantFor(state.sessionGrants, call)).toBe(state.sessionGrants![0]);
    expect(grantFor(state.sessionGrants, { ...call, approval: { ...call.approval!, policyVersion: '2' } })).toBeUndefined();
    expect(grantFor(state.sessionGrants, { ...call, name: 'other' })).toBeUndefined();
  });

  test('a call covered by a grant is recorded as approved by it', () => {
    const grant: SessionGrant = { tool: 'send', policyVersion: '1', approver: 'ann', approvalId: 's1/4', grantedAt: 'x' };
    const r = grantedRecord('s1', 9, call, grant, routing, new Date('2026-01-02T00:00:00Z'));
    expect(r).toMatchObject({ approvalId: 's1/9', status: 'approved', approver: 'ann', scope: 'grant', comment: 'approved for this session (s1/4)', decidedAt: '2026-01-02T00:00:00.000Z' });
    expect(transcriptApproval(r)).toEqual({ status: 'approved', approver: 'ann', comment: 'approved for this session (s1/4)' });
  });

  test('a grant also approves the requests of that tool waiting right now (parallel calls), not others', () => {
    const grant: SessionGrant = { tool: 'send', policyVersion: '1', approver: 'ann', approvalId: 's1/4', grantedAt: 'x' };
    const same = newApprovalRecord('s1', 5, call, routing, new Date());
    const otherVersion = newApprovalRecord('s1', 6, { ...call, approval: { ...call.approval!, policyVersion: '2' } }, routing, new Date());
    const otherTool = newApprovalRecord('s1', 7, { ...call, name: 'pay' }, routing, new Date());
    expect(approvePendingByGrant([same, otherVersion, otherTool], grant, new Date('2026-01-01T00:00:00Z'))).toBe(1);
    expect([same.status, otherVersion.status, otherTool.status]).toEqual(['approved', 'pending', 'pending']);
    expect(same).toMatchObject({ approver: 'ann', scope: 'grant', comment: 'approved for this session (s1/4)' });
  });

  test('grants are bounded: a new tool past the limit is refused, a tool already granted is not', () => {
    const r = fresh();
    const map = new Map([[r.approvalId, r]]);
    const others: SessionGrant[] = Array.from({ length: LIMITS.sessionGrants }, (_, i) => ({ tool: `t${i}`, policyVersion: '1', approver: 'a', approvalId: `s1/${i}`, grantedAt: 'x' }));
    const decision = { approvalId: 's1/4', decision: 'approve', approver: 'a', scope: 'session' };
    expect(decisionProblem(map, decision, others)).toMatch(/already has 20 tools approved for the session .*approve this call only \(scope 'call'\)/);
    expect(decisionProblem(map, { ...decision, scope: 'call' }, others)).toBeUndefined();
    expect(decisionProblem(map, decision, [...others.slice(1), { tool: 'send', policyVersion: '1', approver: 'a', approvalId: 's1/0', grantedAt: 'x' }])).toBeUndefined();
  });

  test("an edit is told to the model: what it proposed and what ran", () => {
    const r = fresh();
    expect(editedArgsNote(r)).toBeUndefined();
    recordDecision(r, { approvalId: r.approvalId, decision: 'approve', approver: 'ann' }, new Date(), { to: 'y' });
    expect(editedArgsNote(r)).toBe('[Note: ann changed the arguments before approving. You proposed {"to":"x"}; the call ran with {"to":"y"}.]');
  });
});

describe('status', () => {
  test('running and awaiting_approval follow the open approvals; other statuses change only explicitly', () => {
    expect(nextStatus('running', undefined, 1)).toBe('awaiting_approval');
    expect(nextStatus('awaiting_approval', undefined, 0)).toBe('running');
    expect(nextStatus('budget_exhausted', undefined, 1)).toBe('budget_exhausted');
    expect(nextStatus('running', 'completed', 1)).toBe('completed');
    expect(['completed', 'failed', 'cancelled', 'running'].map((s) => isClosed(s as never))).toEqual([true, true, true, false]);
  });

  test('details and memo name what the session waits for', () => {
    const state = initialState('s1', { agent: 'a' });
    const r = newApprovalRecord('s1', 4, call, routing, new Date('2026-01-01T00:00:00Z'));
    state.status = 'awaiting_approval';
    expect(statusDetails(state, [r])).toBe('Waiting for approval: send from leads until 2026-01-01T00:01:00.000Z (always)');
    state.status = 'running';
    expect(statusDetails(state, [])).toBe('Running: 0 model steps, 0 tokens, $0.0000');
    expect(pendingMemo([]).value).toBeNull();
    const memo = pendingMemo([r]);
    expect(memo.value).toEqual([{ approvalId: 's1/4', tool: 'send', approverGroup: 'leads', argsHash: HASH, deadline: r.deadline }]);
    expect(pendingMemo([r]).key).toBe(memo.key);
    escalate(r, routing.escalation[0], new Date('2026-01-01T00:01:00Z'));
    expect(pendingMemo([r]).key).not.toBe(memo.key);
  });
});

describe('inParallel', () => {
  test('runs every task, at most `limit` at a time, starting them in order', async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const gates: Array<() => void> = [];
    const tasks = Array.from({ length: 5 }, (_, i) => async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
    });
    const all = inParallel(tasks, 2);
    // Release tasks one at a time, as activity completions would.
    for (let released = 0; released < 5; released++) {
      await new Promise((r) => setImmediate(r));
      gates.shift()!();
    }
    await all;
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(most).toBe(2);
  });

  test('a limit below one still runs the tasks one by one', async () => {
    const seen: number[] = [];
    await inParallel([async () => void seen.push(1), async () => void seen.push(2)], 0);
    expect(seen).toEqual([1, 2]);
  });
});

describe('module boundaries', () => {
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const dir = path.join(__dirname, '..', '..', 'workflows', 'session');
  /** Every module a file imports, following relative imports (type-only imports excluded: they vanish at build). */
  const reach = (file: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(file)) return seen;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^import (?!type )[^;]*? from '([^']+)';/gms)) {
      const spec = m[1];
      if (spec.startsWith('.')) reach(path.resolve(path.dirname(file), `${spec}.ts`), seen);
      else seen.add(spec);
    }
    return seen;
  };

  test.each(['budget', 'ledger', 'approvals', 'status', 'carry', 'parallel', 'failures', 'patches'])(
    'the pure module %s does not reach @temporalio/workflow (it runs the same in a test and in a workflow)',
    (name) => {
      const reached = reach(path.join(dir, `${name}.ts`));
      expect([...reached].filter((m) => m === '@temporalio/workflow' || m === 'zod' || m.startsWith('node:'))).toEqual([]);
    },
  );
});
