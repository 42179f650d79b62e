/**
 * Sub-agents, the rules: a child's session id, the budget it gets (a share of what the parent has left, minus
 * what running children already hold), the bounds on delegating (depth, per turn, per session), rolling a
 * child's usage into the parent's, and the approvals a child reports (what its parent shows). Pure: no
 * Temporal imports, unit-tested in test/unit (the child workflows, signals and cancellation are in
 * delegate-call.ts).
 */
import { LIMITS } from '../limits';
import { SESSION_ID_MAX_LENGTH } from '../session-id';
import type { ApprovalRecord, Budget, ChildSession, DelegatedTotals, SessionResult, SessionState, ToolSpec } from '../types';
import { bounded, jsonShapeProblem } from '../validate';

/** The delegation request shape this code writes and reads. */
export const DELEGATION_VERSION = 1;
/** Finished children kept in `state.delegation.children` (running ones are always kept). */
export const DELEGATION_CHILDREN_KEPT = 20;
/** The default share of the parent's remaining budget a child gets. */
export const DEFAULT_BUDGET_SHARE = 0.5;

/** 0 for a session started by a client, 1 for its sub-agents, ... */
export function delegationDepth(state: Pick<SessionState, 'delegatedFrom'>): number {
  return state.delegatedFrom?.depth ?? 0;
}

/** 32-bit FNV-1a of the UTF-16 code units, 8 hex digits: deterministic and dependency-free. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * The child's session id: `<parent>.d<seq>` (the seq of the delegate call, unique in the parent across its
 * runs), so a replay or a retried start names the same child. A parent id too long for the suffix is cut
 * and a hash of the whole id added, so two long parents never share a child id. Always within the id grammar.
 */
export function childSessionId(parentId: string, seq: number): string {
  const suffix = `.d${seq}`;
  if (parentId.length + suffix.length <= SESSION_ID_MAX_LENGTH) return `${parentId}${suffix}`;
  const hash = `-h${fnv1a(parentId)}`;
  return `${parentId.slice(0, SESSION_ID_MAX_LENGTH - suffix.length - hash.length)}${hash}${suffix}`;
}

export function emptyTotals(): DelegatedTotals {
  return { steps: 0, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, costUsd: 0 };
}

export function runningChildren(state: Pick<SessionState, 'delegation'>): ChildSession[] {
  return state.delegation?.children.filter((c) => c.status === 'running') ?? [];
}

export function isRunningChild(state: Pick<SessionState, 'delegation'>, sessionId: string): boolean {
  return state.delegation?.children.some((c) => c.sessionId === sessionId && c.status === 'running') ?? false;
}

/** The budgets running children were given: held back from what the parent can give the next one. */
export function reservedBudget(children: readonly ChildSession[]): { maxSteps: number; maxTokens: number; maxCostUsd: number } {
  const out = { maxSteps: 0, maxTokens: 0, maxCostUsd: 0 };
  for (const c of children) {
    if (c.status !== 'running') continue;
    out.maxSteps += c.budget.maxSteps ?? 0;
    out.maxTokens += c.budget.maxTokens ?? 0;
    out.maxCostUsd += c.budget.maxCostUsd ?? 0;
  }
  return out;
}

/** Steps counted against the session's maxSteps: its own model steps and those of finished sub-agents. */
export function stepsCounted(state: Pick<SessionState, 'steps' | 'delegation'>): number {
  return state.steps + (state.delegation?.used.steps ?? 0);
}

/**
 * The budget for a new child: `share` of what the parent has left under each limit it has (its usage,
 * finished children's included, and the budgets of running children taken off first). A limit the parent
 * does not have is not given (the child's own agent budget applies). Refused when a share comes to less
 * than one step, one token or nothing of the cost.
 */
export function childBudget(
  state: Pick<SessionState, 'budget' | 'steps' | 'usage' | 'costUsd' | 'delegation'>,
  share: number,
): { ok: true; budget: Budget } | { ok: false; problem: string } {
  const b = state.budget;
  const reserved = reservedBudget(state.delegation?.children ?? []);
  const out: Budget = {};
  const held = (n: number): string => (n > 0 ? `, ${n} held by running sub-agents` : '');
  if (b.maxSteps !== undefined) {
    const left = b.maxSteps - stepsCounted(state) - reserved.maxSteps;
    const steps = Math.floor(left * share);
    if (steps < 1) return { ok: false, problem: `not enough budget left to delegate: ${Math.max(0, left)} of maxSteps ${b.maxSteps} left${held(reserved.maxSteps)}; a ${share} share is less than one step` };
    out.maxSteps = steps;
  }
  if (b.maxTokens !== undefined) {
    const left = b.maxTokens - state.usage.totalTokens - reserved.maxTokens;
    const tokens = Math.floor(left * share);
    if (tokens < 1) return { ok: false, problem: `not enough budget left to delegate: ${Math.max(0, left)} of maxTokens ${b.maxTokens} left${held(reserved.maxTokens)}` };
    out.maxTokens = tokens;
  }
  if (b.maxCostUsd !== undefined) {
    const left = b.maxCostUsd - state.costUsd - reserved.maxCostUsd;
    const cost = left * share;
    if (!(cost > 0)) return { ok: false, problem: `not enough budget left to delegate: $${Math.max(0, left).toFixed(4)} of maxCostUsd ${b.maxCostUsd} left${held(reserved.maxCostUsd)}` };
    out.maxCostUsd = cost;
  }
  return { ok: true, budget: out };
}

/** A sub-agent's limits: its own agent's budget, lowered to what its parent gave it. */
export function capBudget(own: Budget, given: Budget | undefined): Budget {
  if (!given) return own;
  const min = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));
  const out: Budget = {};
  const steps = min(own.maxSteps, given.maxSteps);
  const tokens = min(own.maxTokens, given.maxTokens);
  const cost = min(own.maxCostUsd, given.maxCostUsd);
  if (steps !== undefined) out.maxSteps = steps;
  if (tokens !== undefined) out.maxTokens = tokens;
  if (cost !== undefined) out.maxCostUsd = cost;
  return out;
}

/** Why this session may not start another child now (depth, this turn, this session), or undefined. */
export function delegationRefusal(state: Pick<SessionState, 'delegatedFrom' | 'delegation'>, startedThisTurn: number): string | undefined {
  const depth = delegationDepth(state);
  if (depth >= LIMITS.delegationDepth) return `delegation depth limit reached: this session is a sub-agent at depth ${depth} (at most ${LIMITS.delegationDepth}); do the task yourself`;
  if (startedThisTurn >= LIMITS.delegationsPerTurn) return `at most ${LIMITS.delegationsPerTurn} delegations per turn; this call was not run (ask again in a later turn)`;
  const started = state.delegation?.started ?? 0;
  if (started >= LIMITS.delegationsPerSession) return `this session has already delegated ${started} tasks (at most ${LIMITS.delegationsPerSession}); do the rest yourself`;
  return undefined;
}

/** The tools the model is offered: at the depth limit, none of the delegate tools (a call would be refused). */
export function modelToolNames(tools: readonly ToolSpec[], depth: number): string[] {
  return tools.filter((t) => t.builtin !== 'delegate' || depth < LIMITS.delegationDepth).map((t) => t.name);
}

/** Records a child that is starting (it holds its budget from now on). */
export function addChild(state: SessionState, child: ChildSession): void {
  const d = (state.delegation ??= { started: 0, used: emptyTotals(), children: [] });
  d.started += 1;
  d.children.push(child);
}

/**
 * A child ended: its status, and what it used rolled into the parent (usage and cost into the session's
 * own totals, steps into `delegation.used.steps`, which counts against maxSteps). Exact: the parent's
 * totals are its own plus its children's, added once. Keeps the newest finished children.
 */
export function endChild(
  state: SessionState,
  sessionId: string,
  end: { status: Exclude<ChildSession['status'], 'running'>; used?: DelegatedTotals; error?: string },
  now: Date,
): ChildSession | undefined {
  const d = state.delegation;
  const child = d?.children.find((c) => c.sessionId === sessionId && c.status === 'running');
  if (!d || !child) return undefined;
  child.status = end.status;
  child.endedAt = now.toISOString();
  if (end.error !== undefined) child.error = end.error;
  if (end.used) {
    child.used = end.used;
    d.used.steps += end.used.steps;
    d.used.usage.promptTokens += end.used.usage.promptTokens;
    d.used.usage.completionTokens += end.used.usage.completionTokens;
    d.used.usage.totalTokens += end.used.usage.totalTokens;
    d.used.costUsd += end.used.costUsd;
    state.usage.promptTokens += end.used.usage.promptTokens;
    state.usage.completionTokens += end.used.usage.completionTokens;
    state.usage.totalTokens += end.used.usage.totalTokens;
    state.costUsd += end.used.costUsd;
  }
  const finished = d.children.filter((c) => c.status !== 'running');
  const drop = new Set(finished.slice(0, Math.max(0, finished.length - DELEGATION_CHILDREN_KEPT)));
  if (drop.size) d.children = d.children.filter((c) => !drop.has(c));
  return child;
}

/** What a finished child used, from its result: its own steps plus its sub-agents', tokens and cost (theirs included). */
export function totalsOfResult(r: Pick<SessionResult, 'steps' | 'usage' | 'costUsd' | 'delegated'>): DelegatedTotals {
  return { steps: r.steps + (r.delegated?.steps ?? 0), usage: { ...r.usage }, costUsd: r.costUsd };
}

/** What this session used so far, its sub-agents' included: what it reports when it ends without a result. */
export function totalsOfState(state: Pick<SessionState, 'steps' | 'usage' | 'costUsd' | 'delegation'>): DelegatedTotals {
  return { steps: stepsCounted(state), usage: { ...state.usage }, costUsd: state.costUsd };
}

/** The sub-agents part of a result (absent when the session delegated nothing). */
export function delegatedOfState(state: Pick<SessionState, 'delegation'>): SessionResult['delegated'] {
  const d = state.delegation;
  if (!d) return undefined;
  return { steps: d.used.steps, usage: { ...d.used.usage }, costUsd: d.used.costUsd, children: d.started };
}

/**
 * The approvals a sub-agent reports to its parent: each tagged with the session that asked (a grandchild's
 * keep theirs), arguments too large to pass on replaced by a note (the asking session has them) and texts
 * cut to the bounds the parent checks (checkSubAgentReport), at most LIMITS.subAgentApprovalsShown: a
 * report this builds is always one the parent takes.
 */
export function reportedApprovals(sessionId: string, open: readonly ApprovalRecord[]): ApprovalRecord[] {
  const limits = { depth: LIMITS.editedArgsDepth, nodes: LIMITS.editedArgsNodes, bytes: LIMITS.subAgentArgsBytes, keyChars: LIMITS.editedArgsKeyChars };
  const elided = (asker: string | undefined) => `[arguments too large to show here: see session ${asker}]`;
  return open.slice(0, LIMITS.subAgentApprovalsShown).map((a) => {
    const tagged: ApprovalRecord = a.sessionId ? { ...a } : { ...a, sessionId };
    if (tagged.args !== undefined && jsonShapeProblem(tagged.args, 'args', limits)) {
      tagged.args = elided(tagged.sessionId);
      tagged.argsElided = true;
    }
    if (tagged.originalArgs !== undefined && jsonShapeProblem(tagged.originalArgs, 'originalArgs', limits)) tagged.originalArgs = elided(tagged.sessionId);
    tagged.reason = bounded(tagged.reason, LIMITS.commentChars - 40);
    tagged.policyVersion = bounded(tagged.policyVersion, 160);
    tagged.approverGroup = bounded(tagged.approverGroup, LIMITS.identityChars - 40);
    if (tagged.comment !== undefined) tagged.comment = bounded(tagged.comment, LIMITS.commentChars - 40);
    return tagged;
  });
}

/** What a delegating session knows of its running children's approvals: the newest report of each. */
export type ChildReports = Map<string, { version: number; pending: ApprovalRecord[] }>;

/** Takes a report unless an older one than the last taken (reports may arrive out of order). Returns whether it was taken. */
export function takeReport(reports: ChildReports, report: { sessionId: string; version: number; pendingApprovals: ApprovalRecord[] }): boolean {
  const last = reports.get(report.sessionId);
  if (last && last.version >= report.version) return false;
  reports.set(report.sessionId, { version: report.version, pending: report.pendingApprovals.filter((a) => a.status === 'pending') });
  return true;
}

/** Every pending approval the running children reported (the parent shows them with its own). */
export function childApprovals(reports: ChildReports): ApprovalRecord[] {
  return [...reports.values()].flatMap((r) => r.pending);
}

/** The running child whose report lists this pending approval (where a decision about it goes), if any. */
export function forwardTarget(reports: ChildReports, approvalId: string): { childId: string; record: ApprovalRecord } | undefined {
  for (const [childId, r] of reports) {
    const record = r.pending.find((a) => a.approvalId === approvalId);
    if (record) return { childId, record };
  }
  return undefined;
}

/** A child's answer as the parent's model gets it (cut at LIMITS.delegateAnswerChars). */
export function answerText(agent: string, childId: string, answer: string, used: DelegatedTotals): string {
  const cut = answer.length > LIMITS.delegateAnswerChars ? `${answer.slice(0, LIMITS.delegateAnswerChars)}\n[answer cut at ${LIMITS.delegateAnswerChars} of ${answer.length} characters; the whole answer is in session ${childId}]` : answer;
  return `Answer from sub-agent '${agent}' (session ${childId}, ${used.steps} steps, ${used.usage.totalTokens} tokens):\n${cut}`;
}
