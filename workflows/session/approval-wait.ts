/**
 * Waiting for a human: a request goes to the first group with a durable deadline, escalates to the next
 * group when it passes, and is denied by default after the last one (or withdrawn when the session ends).
 */
import { condition } from '@temporalio/workflow';
import type { ApprovalRecord, CheckedToolCall, SessionGrant } from '../types';
import { approvalLevels, escalate, grantedRecord, newApprovalRecord } from './approvals';
import { publish } from './publish';
import type { SessionRun } from './run';

export async function awaitApproval(s: SessionRun, call: CheckedToolCall, seq: number): Promise<ApprovalRecord> {
  const routing = s.spec!.approvals;
  const record = newApprovalRecord(s.sessionId, seq, call, routing, new Date());
  s.approvals.set(record.approvalId, record);
  publish(s);
  const levels = approvalLevels(routing);
  for (let level = 0; level < levels.length; level++) {
    const { group, timeoutMs } = levels[level];
    if (level > 0) {
      // Escalation: the same request goes to the next group with a fresh deadline (visible as its own timer).
      escalate(record, levels[level], new Date());
      publish(s);
    }
    const decided = await condition(() => record.status !== 'pending' || s.endRequested !== undefined, timeoutMs, {
      summary: `approval deadline (${group}) for ${call.summary}`,
    });
    if (decided) break;
  }
  if (record.status === 'pending') {
    record.status = s.endRequested ? 'withdrawn' : 'expired';
    record.decidedAt = new Date().toISOString();
  }
  publish(s);
  return record;
}

/** A call of a tool approved for the session: recorded as approved by the grant, nobody is asked. */
export function approveByGrant(s: SessionRun, call: CheckedToolCall, seq: number, grant: SessionGrant): ApprovalRecord {
  const record = grantedRecord(s.sessionId, seq, call, grant, s.spec!.approvals, new Date());
  s.approvals.set(record.approvalId, record);
  publish(s);
  return record;
}
