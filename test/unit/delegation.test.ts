/**
 * Sub-agents, the pure rules (workflows/session/delegation.ts) and the definition checks (runtime/delegates.ts):
 * child ids, the budget a child gets and the roll-up of what it used, the bounds on delegating, what a child
 * reports and what its parent shows, and the worker refusing an unknown delegate. No server.
 */
import { z } from 'zod';
import { agentSpec, defineAgent, defineTool } from '../../runtime/agent';
import { checkDelegates, delegatePolicies, delegateToolName } from '../../runtime/delegates';
import { createActivities } from '../../activities';
import { AgentRegistry } from '../../runtime/agent';
import type { SessionStore } from '../../runtime/store';
import type { ModelProvider } from '../../runtime/model/provider';
import { LIMITS } from '../../workflows/limits';
import { SESSION_ID_PATTERN, sessionIdProblem } from '../../workflows/session-id';
import { initialState } from '../../workflows/session/carry';
import {
  addChild,
  answerText,
  capBudget,
  childApprovals,
  childBudget,
  childSessionId,
  DELEGATION_CHILDREN_KEPT,
  delegatedOfState,
  delegationRefusal,
  endChild,
  forwardTarget,
  modelToolNames,
  reportedApprovals,
  takeReport,
  totalsOfResult,
  totalsOfState,
  type ChildReports,
} from '../../workflows/session/delegation';
import { budgetProblem } from '../../workflows/session/budget';
import { pendingMemo, statusDetails } from '../../workflows/session/status';
import { checkForwardedDecision, checkSubAgentReport, delegationRequestProblem } from '../../workflows/validate';
import type { ApprovalRecord, ChildSession, SessionState, ToolSpec } from '../../workflows/types';

const now = new Date('2030-01-01T00:00:00.000Z');
const state = (over: Partial<SessionState> = {}): SessionState => ({ ...initialState('parent-1', { agent: 'lead', task: 't' }), ...over });
const child = (id: string, budget: ChildSession['budget'], status: ChildSession['status'] = 'running'): ChildSession => ({ sessionId: id, agent: 'helper', seq: 3, status, startedAt: now.toISOString(), budget });
const record = (approvalId: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  approvalId,
  seq: 3,
  toolCallId: 'c1',
  tool: 'send_notice',
  args: { recipient: 'kim' },
  argsHash: 'a'.repeat(64),
  policyVersion: '1',
  reason: 'needs approval',
  requestedAt: now.toISOString(),
  deadline: now.toISOString(),
  status: 'pending',
  approverGroup: 'approvers',
  escalations: [],
  ...over,
});

test('child ids: <parent>.d<seq>, deterministic, within the id grammar even for the longest parents, never shared', () => {
  expect(childSessionId('session-lead-abc', 5)).toBe('session-lead-abc.d5');
  expect(childSessionId('session-lead-abc', 5)).toBe(childSessionId('session-lead-abc', 5));
  const long1 = `a${'x'.repeat(127)}`;
  const long2 = `b${'x'.repeat(127)}`;
  const long3 = `a${'x'.repeat(126)}y`; // same first 120 characters as long1
  for (const id of [long1, long2, long3]) {
    const c = childSessionId(id, 123456);
    expect(sessionIdProblem(c)).toBeUndefined();
    expect(c.length).toBeLessThanOrEqual(128);
    expect(SESSION_ID_PATTERN.test(c)).toBe(true);
  }
  expect(new Set([long1, long2, long3].map((id) => childSessionId(id, 123456))).size).toBe(3);
  // Nesting keeps going at any length.
  let id = long1;
  for (let i = 0; i < 4; i++) id = childSessionId(id, 99999);
  expect(sessionIdProblem(id)).toBeUndefined();
});

test("a child's budget: its share of what the parent has left, after running children's budgets; limits the parent lacks are not given", () => {
  const st = state({ budget: { maxSteps: 40, maxTokens: 10_000, maxCostUsd: 2 }, steps: 4, usage: { promptTokens: 900, completionTokens: 100, totalTokens: 1000 }, costUsd: 0.5 });
  expect(childBudget(st, 0.5)).toEqual({ ok: true, budget: { maxSteps: 18, maxTokens: 4500, maxCostUsd: 0.75 } });
  // A running child holds its budget: the next one gets a share of what is left after it.
  addChild(st, child('c1', { maxSteps: 18, maxTokens: 4500, maxCostUsd: 0.75 }));
  expect(childBudget(st, 0.5)).toEqual({ ok: true, budget: { maxSteps: 9, maxTokens: 2250, maxCostUsd: 0.375 } });
  // Finished children's steps count as used (their tokens and cost are in usage already).
  endChild(st, 'c1', { status: 'completed', used: { steps: 10, usage: { promptTokens: 1000, completionTokens: 0, totalTokens: 1000 }, costUsd: 0.25 } }, now);
  expect(st.usage.totalTokens).toBe(2000);
  expect(childBudget(st, 1)).toEqual({ ok: true, budget: { maxSteps: 26, maxTokens: 8000, maxCostUsd: 1.25 } });
  expect(childBudget(state({ budget: {} }), 0.5)).toEqual({ ok: true, budget: {} });
  expect(childBudget(state({ budget: { maxSteps: 3 }, steps: 2 }), 0.5)).toEqual({ ok: false, problem: expect.stringMatching(/not enough budget left to delegate: 1 of maxSteps 3 left; a 0.5 share is less than one step/) });
  expect(childBudget(state({ budget: { maxCostUsd: 1 }, costUsd: 1 }), 1)).toMatchObject({ ok: false, problem: expect.stringMatching(/maxCostUsd 1/) });
  // The child keeps the lower of its own limit and the share; a limit only one side has stays.
  expect(capBudget({ maxSteps: 50, maxCostUsd: 1 }, { maxSteps: 18, maxTokens: 4500, maxCostUsd: 1.5 })).toEqual({ maxSteps: 18, maxTokens: 4500, maxCostUsd: 1 });
  expect(capBudget({ maxSteps: 50 }, undefined)).toEqual({ maxSteps: 50 });
});

test('roll-up is exact and once: the parent totals its own usage plus what each child used; sub-agent steps count against maxSteps', () => {
  const st = state({ budget: { maxSteps: 10 }, steps: 3, usage: { promptTokens: 30, completionTokens: 3, totalTokens: 33 }, costUsd: 0.125 });
  addChild(st, child('c1', { maxSteps: 3 }));
  addChild(st, child('c2', { maxSteps: 3 }));
  const used1 = { steps: 2, usage: { promptTokens: 20, completionTokens: 2, totalTokens: 22 }, costUsd: 0.0625 };
  const used2 = { steps: 4, usage: { promptTokens: 40, completionTokens: 4, totalTokens: 44 }, costUsd: 0.25 };
  endChild(st, 'c1', { status: 'completed', used: used1 }, now);
  endChild(st, 'c2', { status: 'failed', used: used2, error: 'failed: boom' }, now);
  expect(endChild(st, 'c2', { status: 'failed', used: used2 }, now)).toBeUndefined(); // once
  expect(st.usage).toEqual({ promptTokens: 90, completionTokens: 9, totalTokens: 99 });
  expect(st.costUsd).toBe(0.4375);
  expect(totalsOfState(st)).toEqual({ steps: 9, usage: st.usage, costUsd: 0.4375 });
  expect(delegatedOfState(st)).toEqual({ steps: 6, usage: { promptTokens: 60, completionTokens: 6, totalTokens: 66 }, costUsd: 0.3125, children: 2 });
  expect(budgetProblem(st)).toBeUndefined();
  st.steps = 4;
  expect(budgetProblem(st)).toBe('maxSteps 10 reached');
  expect(totalsOfResult({ steps: 2, usage: used2.usage, costUsd: 0.25, delegated: { ...used1, children: 1 } })).toEqual({ steps: 4, usage: used2.usage, costUsd: 0.25 });
  expect(delegatedOfState(state())).toBeUndefined();
});

test('finished children are kept up to a bound; running ones always', () => {
  const st = state();
  addChild(st, child('running-one', {}));
  for (let i = 0; i < DELEGATION_CHILDREN_KEPT + 5; i++) {
    addChild(st, child(`c${i}`, {}));
    endChild(st, `c${i}`, { status: 'completed' }, now);
  }
  expect(st.delegation!.started).toBe(DELEGATION_CHILDREN_KEPT + 6);
  expect(st.delegation!.children).toHaveLength(DELEGATION_CHILDREN_KEPT + 1);
  expect(st.delegation!.children[0].sessionId).toBe('running-one');
  expect(st.delegation!.children.at(-1)!.sessionId).toBe(`c${DELEGATION_CHILDREN_KEPT + 4}`);
  expect(statusDetails({ ...st, status: 'running' }, [])).toBe('Waiting for 1 sub-agent: helper (running-one)');
});

test('bounds: depth, per turn, per session; at the depth limit the delegate tools are not offered', () => {
  expect(delegationRefusal(state(), 0)).toBeUndefined();
  expect(delegationRefusal(state(), LIMITS.delegationsPerTurn)).toMatch(/at most 4 delegations per turn/);
  expect(delegationRefusal(state({ delegation: { started: LIMITS.delegationsPerSession, used: totalsOfState(state()), children: [] } }), 0)).toMatch(/already delegated 50 tasks/);
  const deep = state({ delegatedFrom: { sessionId: 'p', depth: LIMITS.delegationDepth, seq: 3, budget: {}, reports: 0 } });
  expect(delegationRefusal(deep, 0)).toMatch(/delegation depth limit reached: this session is a sub-agent at depth 3/);
  const tools = [{ name: 'add' }, { name: 'delegate_to_helper', builtin: 'delegate' }, { name: 'wait', builtin: 'wait' }] as ToolSpec[];
  expect(modelToolNames(tools, LIMITS.delegationDepth - 1)).toEqual(['add', 'delegate_to_helper', 'wait']);
  expect(modelToolNames(tools, LIMITS.delegationDepth)).toEqual(['add', 'wait']);
});

test("what a child reports: its pending approvals tagged with its id (a grandchild's keep theirs), large arguments elided", () => {
  const own = record('child-1/3');
  const grand = record('child-1.d5/3', { sessionId: 'child-1.d5' });
  const big = record('child-1/4', { args: { body: 'x'.repeat(LIMITS.subAgentArgsBytes + 1) } });
  const reported = reportedApprovals('child-1', [own, grand, big]);
  expect(reported.map((r) => r.sessionId)).toEqual(['child-1', 'child-1.d5', 'child-1']);
  expect(reported[2]).toMatchObject({ argsElided: true, args: expect.stringContaining('see session child-1') });
  expect(own.sessionId).toBeUndefined(); // the child's own records are not changed
  expect(reportedApprovals('c', Array.from({ length: LIMITS.subAgentApprovalsShown + 5 }, (_, i) => record(`c/${i}`)))).toHaveLength(LIMITS.subAgentApprovalsShown);
  // Every report a child can send passes the parent's check, however long its texts or arguments.
  expect(checkSubAgentReport({ sessionId: 'child-1', version: 1, pendingApprovals: reported })).toMatchObject({ ok: true });
  const wordy = record('child-1/5', { reason: 'r'.repeat(50_000), policyVersion: 'v'.repeat(5000), approverGroup: 'g'.repeat(5000), args: { deep: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) } });
  const decided = record('child-1/6', { status: 'approved', comment: 'c'.repeat(50_000), originalArgs: { body: 'x'.repeat(100_000) } });
  const [w, d] = reportedApprovals('child-1', [wordy, decided]);
  expect(w.argsElided).toBe(true);
  expect(checkSubAgentReport({ sessionId: 'child-1', version: 2, pendingApprovals: [w], outcome: { ref: 'r', ok: true, record: d } })).toMatchObject({ ok: true });
});

test("the parent's view: the newest report of each running child; a late older report changes nothing; decisions go to the child that has the approval", () => {
  const reports: ChildReports = new Map();
  const a = reportedApprovals('child-a', [record('child-a/3')]);
  const b = reportedApprovals('child-b', [record('child-b/3'), record('child-b.d4/3', { sessionId: 'child-b.d4' })]);
  expect(takeReport(reports, { sessionId: 'child-a', version: 2, pendingApprovals: a })).toBe(true);
  expect(takeReport(reports, { sessionId: 'child-a', version: 1, pendingApprovals: [] })).toBe(false);
  expect(takeReport(reports, { sessionId: 'child-b', version: 1, pendingApprovals: b })).toBe(true);
  expect(childApprovals(reports).map((r) => r.approvalId)).toEqual(['child-a/3', 'child-b/3', 'child-b.d4/3']);
  expect(forwardTarget(reports, 'child-b.d4/3')?.childId).toBe('child-b');
  expect(forwardTarget(reports, 'nobody/3')).toBeUndefined();
  expect(takeReport(reports, { sessionId: 'child-a', version: 3, pendingApprovals: [] })).toBe(true);
  expect(childApprovals(reports).map((r) => r.approvalId)).toEqual(['child-b/3', 'child-b.d4/3']);
  // The memo names the session that asked.
  expect(pendingMemo(childApprovals(reports)).value).toEqual([
    expect.objectContaining({ approvalId: 'child-b/3', sessionId: 'child-b' }),
    expect.objectContaining({ approvalId: 'child-b.d4/3', sessionId: 'child-b.d4' }),
  ]);
});

test('reports and forwarded decisions are checked before use; a malformed delegation request is refused', () => {
  const ok = { sessionId: 'child-1', version: 1, pendingApprovals: [] };
  expect(checkSubAgentReport(ok).ok).toBe(true);
  expect(checkSubAgentReport({ ...ok, version: 0 })).toMatchObject({ ok: false, problem: 'version must be an integer >= 1' });
  expect(checkSubAgentReport({ ...ok, sessionId: '../x' })).toMatchObject({ ok: false });
  expect(checkSubAgentReport({ ...ok, pendingApprovals: [{ approvalId: 'x' }] })).toMatchObject({ ok: false, problem: expect.stringMatching(/^approval record: tool must be a string/) });
  expect(checkSubAgentReport({ ...ok, final: { status: 'failed', steps: 1, usage: { promptTokens: 1, completionTokens: 1, totalTokens: 2 }, costUsd: -1 } })).toMatchObject({ ok: false, problem: 'final.costUsd must be a number >= 0' });
  expect(checkSubAgentReport({ ...ok, outcome: { ref: 'r', ok: 'yes' } })).toMatchObject({ ok: false, problem: 'outcome.ok must be a boolean' });
  expect(checkSubAgentReport({ ...ok, extra: 1 })).toMatchObject({ ok: false, problem: 'unknown field extra' });
  expect(checkSubAgentReport({ ...ok, pendingApprovals: [{ ...record('c/1'), args: 'x'.repeat(2_000_000) }] })).toMatchObject({ ok: false, problem: expect.stringMatching(/report is larger than/) });
  const decision = { approvalId: 'child-1/3', decision: 'approve', approver: 'alice' };
  expect(checkForwardedDecision({ ref: 'r1', decision, channel: 'update', from: 'parent-1' }).ok).toBe(true);
  expect(checkForwardedDecision({ ref: 'r1', decision: { ...decision, approver: '' }, channel: 'update', from: 'parent-1' })).toMatchObject({ ok: false, problem: 'decision: approver is required' });
  expect(checkForwardedDecision({ ref: 'r1', decision, channel: 'email', from: 'parent-1' })).toMatchObject({ ok: false });
  const req = { delegationVersion: 1, parentSessionId: 'parent-1', depth: 1, seq: 3, budget: { maxSteps: 5 } };
  expect(delegationRequestProblem(req)).toBeUndefined();
  expect(delegationRequestProblem({ ...req, delegationVersion: 2 })).toMatch(/not one this worker understands/);
  expect(delegationRequestProblem({ ...req, depth: LIMITS.delegationDepth + 1 })).toMatch(/depth must be an integer from 1 to 3/);
  expect(delegationRequestProblem({ ...req, budget: { maxSteps: -1 } })).toBe('budget.maxSteps must be a positive number');
  // A sub-agent's first state says whose it is.
  expect(initialState('parent-1.d3', { agent: 'helper', task: 't', delegation: req }).delegatedFrom).toEqual({ sessionId: 'parent-1', depth: 1, seq: 3, budget: { maxSteps: 5 }, reports: 0 });
});

test("a child's answer goes to the model whole up to the bound, then cut with a pointer to the child", () => {
  const used = { steps: 2, usage: { promptTokens: 10, completionTokens: 5, totalTokens: 15 }, costUsd: 0 };
  expect(answerText('helper', 'p.d3', 'the answer', used)).toBe("Answer from sub-agent 'helper' (session p.d3, 2 steps, 15 tokens):\nthe answer");
  const long = answerText('helper', 'p.d3', 'y'.repeat(LIMITS.delegateAnswerChars + 10), used);
  expect(long).toMatch(/\[answer cut at 32000 of 32010 characters; the whole answer is in session p\.d3\]$/);
});

const helper = defineAgent({ name: 'helper', instructions: 'You help.', model: 'm', pricing: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 }, tools: [] });

test('defineAgent adds a delegate_to_<agent> tool per delegate ({task}, bounded); the spec carries the policy', () => {
  const lead = defineAgent({
    name: 'lead',
    instructions: 'You lead.',
    model: 'm',
    pricing: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 },
    tools: [defineTool({ name: 'add', description: 'add', input: z.object({ a: z.number() }), run: () => 1 })],
    delegates: ['helper', { agent: 'research.assistant', budgetShare: 0.2, description: 'finds sources' }],
  });
  expect(lead.tools.map((t) => [t.name, t.builtin])).toEqual([['add', undefined], ['delegate_to_helper', 'delegate'], ['delegate_to_research_assistant', 'delegate']]);
  expect(defineAgent(lead).tools).toHaveLength(3); // defining again adds nothing
  const spec = agentSpec(lead, 'm');
  expect(spec.delegates).toEqual([
    { agent: 'helper', tool: 'delegate_to_helper', budgetShare: 0.5 },
    { agent: 'research.assistant', tool: 'delegate_to_research_assistant', budgetShare: 0.2 },
  ]);
  const tool = spec.tools.find((t) => t.name === 'delegate_to_research_assistant')!;
  expect(tool.description).toMatch(/^Delegate a task to the 'research.assistant' agent \(finds sources\): .* 20% of your remaining budget/);
  expect(tool.parameters).toMatchObject({ type: 'object', properties: { task: { type: 'string', maxLength: LIMITS.delegateTaskChars } }, required: ['task'] });
  const input = lead.tools[1].input;
  expect(input.safeParse({ task: 'go' }).success).toBe(true);
  expect(input.safeParse({ task: '  ' }).success).toBe(false);
  expect(input.safeParse({ task: 'go', extra: 1 }).success).toBe(false);
  expect(delegateToolName('a b/c')).toBe('delegate_to_a_b_c');
});

test('bad delegates are refused at definition, naming the agent and the problem', () => {
  const base = { name: 'lead', instructions: 'x', tools: [] };
  expect(() => defineAgent({ ...base, delegates: [{ agent: 'helper', budgetShare: 0 }] })).toThrow("agent 'lead': delegates: [0.budgetShare] budgetShare must be more than 0");
  expect(() => defineAgent({ ...base, delegates: [{ agent: 'helper', budgetShare: 1.5 }] })).toThrow("agent 'lead': delegates: [0.budgetShare] budgetShare must be at most 1");
  expect(() => defineAgent({ ...base, delegates: [''] })).toThrow("agent 'lead': delegates: [0] an agent name must not be empty");
  expect(() => defineAgent({ ...base, delegates: ['helper', 'helper'] })).toThrow("agent 'lead': delegates lists 'helper' twice");
  expect(() => defineAgent({ ...base, delegates: ['a.b', 'a_b'] })).toThrow("agent 'lead': delegates lists 'a_b' and 'a.b', which share the tool name 'delegate_to_a_b'");
  expect(() => defineAgent({ ...base, delegates: ['x'.repeat(60)] })).toThrow(/too long for a tool name/);
  expect(() => defineAgent({ ...base, delegates: Array.from({ length: LIMITS.delegatesPerAgent + 1 }, (_, i) => `a${i}`) })).toThrow(/at most 16 delegates per agent/);
  expect(() => delegatePolicies('lead', [{ agent: 'helper', extra: 1 } as never])).toThrow(`agent 'lead': delegates: [0] Unrecognized key: "extra"`);
});

test('the worker refuses to start when an agent delegates to one it does not have (cycles are fine)', () => {
  const lead = defineAgent({ name: 'lead', instructions: 'x', model: 'm', pricing: { inputPerMTokUsd: 0, outputPerMTokUsd: 0 }, tools: [], delegates: ['helper', 'ghost'] });
  expect(() => checkDelegates([lead, helper])).toThrow(/agent 'lead' delegates to 'ghost', which is not registered on this worker \(registered: lead, helper\)/);
  const selfish = defineAgent({ name: 'selfish', instructions: 'x', tools: [], delegates: ['selfish'] });
  expect(() => checkDelegates([selfish])).not.toThrow();
  // Made without defineAgent: the delegate tools are missing.
  expect(() => checkDelegates([{ name: 'raw', instructions: 'x', tools: [], delegates: ['raw'] }])).toThrow(/has no 'delegate_to_raw' tool: define it with defineAgent/);
  // At worker start (createActivities is what AgentRuntimePlugin builds its activities with).
  const provider = {} as ModelProvider;
  expect(() => createActivities({ registry: new AgentRegistry([lead, helper]), store: {} as SessionStore, model: provider, defaultModel: 'm', searchAttributes: false, workspaceRoot: '/tmp/x', notifiers: { webUiUrl: 'http://localhost:8233', namespace: 'default', timeoutMs: 1000 } })).toThrow(
    /delegates to 'ghost', which is not registered/,
  );
});
