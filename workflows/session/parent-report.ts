/**
 * What a sub-agent tells the session that delegated to it (`subAgentReportSignal`): its pending approvals
 * whenever they change, what it used when it ends without a result, and its answers to forwarded
 * decisions. Only sessions started as sub-agents (input.delegation, patch `delegation-v1`) ever send one.
 */
import { getExternalWorkflowHandle, log } from '@temporalio/workflow';
import { subAgentReportSignal, type SubAgentReport } from '../messages';
import type { ApprovalRecord } from '../types';
import { reportedApprovals } from './delegation';
import type { SessionRun } from './run';

/**
 * Sends a report to the parent (with the approvals pending now unless given). Never rejects: a parent that
 * is gone (terminated) cannot be told, and the sub-agent carries on or ends as it would.
 */
export function reportToParent(s: SessionRun, parts: { pending?: readonly ApprovalRecord[]; final?: SubAgentReport['final']; outcome?: SubAgentReport['outcome'] } = {}): Promise<void> {
  const from = s.state.delegatedFrom;
  if (!from) return Promise.resolve();
  from.reports += 1;
  const report: SubAgentReport = {
    sessionId: s.sessionId,
    version: from.reports,
    pendingApprovals: reportedApprovals(s.sessionId, parts.pending ?? s.state.pendingApprovals),
    ...(parts.final ? { final: parts.final } : {}),
    ...(parts.outcome ? { outcome: parts.outcome } : {}),
  };
  return getExternalWorkflowHandle(from.sessionId)
    .signal(subAgentReportSignal, report)
    .catch((err: unknown) => log.warn('report to the delegating session not delivered', { parent: from.sessionId, error: String(err) }));
}

/**
 * Called by publish: tells the parent when the pending approvals changed since the last report (`key`
 * names the pending set). Not awaited: an approval never waits for its parent to hear of it. A sub-agent
 * that asks for nothing sends nothing.
 */
export function reportApprovalsIfChanged(s: SessionRun, open: readonly ApprovalRecord[], key: string): void {
  if (!s.state.delegatedFrom || (s.published.reported ?? '') === key) return;
  s.published.reported = key;
  void reportToParent(s, { pending: open });
}
