/**
 * Waiting for a human: a request goes to the first group with a durable deadline, escalates to the next
 * group when it passes, and is denied by default after the last one (or withdrawn when the session ends).
 */
import { condition, log, patched } from '@temporalio/workflow';
import { notifyApproval, NOTIFY_ACTIVITY } from './activities';
import { APPROVAL_NOTIFY_PATCH } from './patches';
import type { ApprovalRecord, CheckedToolCall, SessionGrant } from '../types';
import { approvalLevels, escalate, grantedRecord, newApprovalRecord } from './approvals';
import { publish } from './publish';
import type { SessionRun } from './run';

export async function awaitApproval(s: SessionRun, call: CheckedToolCall, seq: number): Promise<ApprovalRecord> {
  const routing = s.spec!.approvals;
  const record = newApprovalRecord(s.sessionId, seq, call, routing, new Date());
  s.approvals.set(record.approvalId, record);
  publish(s);
  notify(s, record, call);
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

/**
 * Tells the worker's notifiers (workflows/../activities/notify.ts) about a new request, when it has any
 * (`spec.notify`; specs recorded before that field notify). Not awaited: the approval never waits for a
 * notification, and one that fails for good is only logged.
 */
function notify(s: SessionRun, record: ApprovalRecord, call: CheckedToolCall): void {
  log.info('approval requested', { approvalId: record.approvalId, tool: record.tool, group: record.approverGroup, deadline: record.deadline });
  if (s.spec!.notify === false || !patched(APPROVAL_NOTIFY_PATCH)) return;
  notifyApproval
    .executeWithOptions({ ...NOTIFY_ACTIVITY, summary: `notify ${record.approverGroup} of ${call.summary}` }, [
      {
        sessionId: s.sessionId,
        approvalId: record.approvalId,
        agent: s.state.agent,
        tool: record.tool,
        args: record.args,
        argsHash: record.argsHash,
        reason: record.reason,
        approverGroup: record.approverGroup,
        deadline: record.deadline,
        ...(s.state.userId ? { userId: s.state.userId } : {}),
      },
    ])
    .catch((err) => log.warn('approval notification not delivered', { approvalId: record.approvalId, error: String(err) }));
}
