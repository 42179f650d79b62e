/**
 * Approval records and the rules of deciding them: creating a request, whether a decision can apply,
 * recording it, escalating, and what the model is told. Pure: the waiting (timers, conditions) is in
 * approval-wait.ts, the message handlers in handlers.ts.
 */
import { LIMITS } from '../limits';
import type { ApprovalDecision } from '../messages';
import { checkApprovalDecision } from '../validate';
import type { ApprovalRecord, ApprovalRouting, CheckedToolCall, SessionGrant, SessionState, TranscriptEntry } from '../types';

/** A new pending request for a call that needs approval, asked of the routing's first group. */
export function newApprovalRecord(sessionId: string, seq: number, call: CheckedToolCall, routing: ApprovalRouting, now: Date): ApprovalRecord {
  return {
    approvalId: `${sessionId}/${seq}`,
    seq,
    toolCallId: call.id,
    tool: call.name,
    args: call.args,
    argsHash: call.approval!.argsHash,
    policyVersion: call.approval!.policyVersion,
    reason: call.approval!.reason,
    requestedAt: now.toISOString(),
    deadline: new Date(now.getTime() + routing.timeoutMs).toISOString(),
    approverGroup: routing.group,
    escalations: [],
    status: 'pending',
  };
}

/** The groups asked in turn: the first one, then each escalation level. */
export function approvalLevels(routing: ApprovalRouting): Array<{ group: string; timeoutMs: number }> {
  return [{ group: routing.group, timeoutMs: routing.timeoutMs }, ...routing.escalation];
}

/** Moves a pending request to the next group with a fresh deadline. */
export function escalate(record: ApprovalRecord, to: { group: string; timeoutMs: number }, now: Date): void {
  record.escalations.push({ at: now.toISOString(), from: record.approverGroup, to: to.group });
  record.approverGroup = to.group;
  record.deadline = new Date(now.getTime() + to.timeoutMs).toISOString();
}

/**
 * Why a decision cannot apply (malformed, unknown id, already decided, other arguments, one tool too many
 * approved for the session), or undefined when it can.
 */
export function decisionProblem(approvals: ReadonlyMap<string, ApprovalRecord>, raw: unknown, grants?: readonly SessionGrant[]): string | undefined {
  const parsed = checkApprovalDecision(raw);
  if (!parsed.ok) return `malformed approval: ${parsed.problem}`;
  const d = parsed.value;
  const record = approvals.get(d.approvalId);
  if (!record) return `unknown approvalId '${d.approvalId}'`;
  if (record.status !== 'pending') return `approval '${record.approvalId}' is already ${record.status}`;
  if (d.argsHash !== undefined && d.argsHash !== record.argsHash) {
    return `argsHash does not match approval '${record.approvalId}': the decision was made about other arguments (or another policy version)`;
  }
  if (d.scope === 'session' && !grantFor(grants, record) && (grants?.length ?? 0) >= LIMITS.sessionGrants) {
    return `this session already has ${LIMITS.sessionGrants} tools approved for the session (the most allowed); approve this call only (scope 'call')`;
  }
  return undefined;
}

/** The grant that approves calls of this tool under this policy version, if an approver gave one. */
export function grantFor(grants: readonly SessionGrant[] | undefined, call: { tool: string; policyVersion: string } | CheckedToolCall): SessionGrant | undefined {
  const [tool, policyVersion] = 'tool' in call ? [call.tool, call.policyVersion] : [call.name, call.approval?.policyVersion];
  return grants?.find((g) => g.tool === tool && g.policyVersion === policyVersion);
}

/** Records "approve for the rest of this session" from a decided request (once per tool and policy version). */
export function addGrant(state: Pick<SessionState, 'sessionGrants'>, record: ApprovalRecord, now: Date): void {
  const grants = (state.sessionGrants ??= []);
  if (grantFor(grants, record)) return;
  grants.push({
    tool: record.tool,
    policyVersion: record.policyVersion,
    approver: record.approver ?? '',
    approvalId: record.approvalId,
    grantedAt: now.toISOString(),
    ...(record.comment !== undefined ? { comment: record.comment } : {}),
  });
}

/** A request approved at once by a session grant: recorded like any approval, with who granted it. */
export function grantedRecord(sessionId: string, seq: number, call: CheckedToolCall, grant: SessionGrant, routing: ApprovalRouting, now: Date): ApprovalRecord {
  const record = newApprovalRecord(sessionId, seq, call, routing, now);
  record.deadline = record.requestedAt;
  record.status = 'approved';
  record.approver = grant.approver;
  record.comment = `approved for this session (${grant.approvalId})`;
  record.decidedAt = now.toISOString();
  record.scope = 'grant';
  return record;
}

/**
 * Other requests of the granted tool that are waiting right now (parallel calls of one turn) are
 * approved by the grant too: "the rest of this session" includes them. Returns how many.
 */
export function approvePendingByGrant(approvals: Iterable<ApprovalRecord>, grant: SessionGrant, now: Date): number {
  let n = 0;
  for (const r of approvals) {
    if (r.status !== 'pending' || r.tool !== grant.tool || r.policyVersion !== grant.policyVersion) continue;
    r.status = 'approved';
    r.approver = grant.approver;
    r.comment = `approved for this session (${grant.approvalId})`;
    r.decidedAt = now.toISOString();
    r.scope = 'grant';
    n++;
  }
  return n;
}

/**
 * What the model is told when the approver changed its arguments: it would otherwise believe the call
 * ran as it proposed. Undefined when the arguments were not edited.
 */
export function editedArgsNote(record: ApprovalRecord): string | undefined {
  if (record.originalArgs === undefined) return undefined;
  return `[Note: ${record.approver ?? 'the approver'} changed the arguments before approving. You proposed ${JSON.stringify(record.originalArgs)}; the call ran with ${JSON.stringify(record.args)}.]`;
}

/** Records a checked decision on its request (edited arguments, already checked, replace the model's). */
export function recordDecision(record: ApprovalRecord, decision: ApprovalDecision, now: Date, checkedEditedArgs?: unknown): void {
  if (checkedEditedArgs !== undefined) {
    record.originalArgs = record.args;
    record.args = checkedEditedArgs;
  }
  record.status = decision.decision === 'approve' ? 'approved' : 'rejected';
  if (decision.scope === 'session' && record.status === 'approved') record.scope = 'session';
  record.approver = decision.approver.trim();
  if (decision.comment !== undefined) record.comment = decision.comment;
  record.decidedAt = now.toISOString();
}

/** Who decided what, as the transcript shows it next to the tool result. */
export function transcriptApproval(record: ApprovalRecord): NonNullable<TranscriptEntry['approval']> {
  return {
    status: record.status,
    ...(record.approver ? { approver: record.approver } : {}),
    ...(record.comment ? { comment: record.comment } : {}),
    ...(record.originalArgs !== undefined ? { edited: true } : {}),
  };
}

/** What the model is told when a call it asked for was not run (rejected, expired, withdrawn). */
export function notRunText(record: ApprovalRecord, firstGroup: string): string {
  const who = record.approver ? ` by ${record.approver}` : '';
  const why = record.comment ? `: ${record.comment}` : '';
  const text = {
    expired: `The call was not run: no decision by ${record.deadline} after asking ${[firstGroup, ...record.escalations.map((e) => e.to)].join(', then ')} (default deny).`,
    rejected: `The call was not run: rejected${who}${why}.`,
    withdrawn: 'The call was not run: the session was ended before a decision.',
  } as const;
  return text[record.status as keyof typeof text];
}

/** Pending requests stop waiting when the session closes. */
export function withdrawPending(approvals: Iterable<ApprovalRecord>): void {
  for (const a of approvals) if (a.status === 'pending') a.status = 'withdrawn';
}
