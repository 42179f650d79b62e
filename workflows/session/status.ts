/**
 * What a session shows about itself: the status after a change, the Web UI "current details" line and
 * the memo of pending approvals. Pure (the publisher in publish.ts sends them to Temporal).
 */
import type { ActiveWait, ApprovalRecord, SessionState, SessionStatus } from '../types';

export const CLOSED_STATUSES: readonly SessionStatus[] = ['completed', 'failed', 'cancelled'];

export function isClosed(status: SessionStatus): boolean {
  return CLOSED_STATUSES.includes(status);
}

/** The status after a change: an explicit one wins; otherwise running and awaiting_approval follow the open approvals. */
export function nextStatus(current: SessionStatus, explicit: SessionStatus | undefined, openApprovals: number): SessionStatus {
  if (explicit) return explicit;
  if (current === 'running' || current === 'awaiting_approval') return openApprovals > 0 ? 'awaiting_approval' : 'running';
  return current;
}

/** The one-line summary the Web UI shows as the workflow's current details. */
export function statusDetails(state: SessionState, open: readonly ApprovalRecord[]): string {
  switch (state.status) {
    case 'awaiting_approval':
      return `Waiting for approval: ${open.map((a) => `${a.tool} from ${a.approverGroup} until ${a.deadline} (${a.reason})`).join('; ')}`;
    case 'awaiting_input':
      return 'Waiting for the next user message';
    case 'budget_exhausted':
      return `Paused: budget exhausted (${state.budgetExhausted}); waiting for a top-up or end`;
    case 'running':
      if (state.waiting?.length) return waitingDetails(state.waiting);
      if (state.delegation?.children.some((c) => c.status === 'running')) return subAgentDetails(state);
      return `Running: ${state.steps} model steps, ${state.usage.totalTokens} tokens, $${state.costUsd.toFixed(4)}`;
    case 'completed':
      return `Completed${state.endReason ? ` (${state.endReason})` : ''}`;
    case 'failed':
      return `Failed: ${state.error ?? ''}`;
    case 'cancelled':
      return 'Cancelled';
  }
}

/** The Web UI's line about waits in progress (appended to the current details). */
export function waitingDetails(waiting: readonly ActiveWait[] | undefined): string {
  if (!waiting?.length) return '';
  return waiting
    .map((w) => `Waiting ${w.tool === 'wait' ? 'on a timer' : `for event '${w.event}'`} until ${w.until}${w.reason ? ` (${w.reason})` : ''}`)
    .join('; ');
}

/** The Web UI's line while sub-agents run. */
export function subAgentDetails(state: Pick<SessionState, 'delegation'>): string {
  const running = state.delegation?.children.filter((c) => c.status === 'running') ?? [];
  return `Waiting for ${running.length} sub-agent${running.length === 1 ? '' : 's'}: ${running.map((c) => `${c.agent} (${c.sessionId})`).join(', ')}`;
}

export interface PendingApprovalMemo {
  approvalId: string;
  tool: string;
  approverGroup: string;
  argsHash: string;
  deadline: string;
  /** A sub-agent's approval: the session that asked (decisions sent to this session are forwarded there). */
  sessionId?: string;
}

/**
 * The memo of pending approvals (readable by clients without a worker) and a key that changes exactly
 * when the memo does, so an unchanged memo is not upserted again.
 */
export function pendingMemo(open: readonly ApprovalRecord[]): { key: string; value: PendingApprovalMemo[] | null } {
  return {
    key: open.map((a) => `${a.approvalId} ${a.tool} ${a.approverGroup} ${a.argsHash} ${a.deadline}`).join('\n'),
    value: open.length
      ? open.map((a) => ({ approvalId: a.approvalId, tool: a.tool, approverGroup: a.approverGroup, argsHash: a.argsHash, deadline: a.deadline, ...(a.sessionId ? { sessionId: a.sessionId } : {}) }))
      : null,
  };
}
