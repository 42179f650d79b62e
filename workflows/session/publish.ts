/**
 * Makes the session's status visible: the state query's fields, the Web UI's current details, search
 * attributes and the memo of pending approvals.
 */
import { setCurrentDetails, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { SessionStatus } from '../types';
import type { SessionRun } from './run';
import { nextStatus, pendingMemo, statusDetails } from './status';
import { approvalDetails } from '../ui-details';
import { childApprovals } from './delegation';
import { reportApprovalsIfChanged } from './parent-report';

import { AgentNameKey, CostUsdKey, PendingApprovalsKey, SandboxModeKey, SessionStatusKey, TokensUsedKey, UserIdKey } from '../search-attributes';

export { AgentNameKey, CostUsdKey, PendingApprovalsKey, SandboxModeKey, SessionStatusKey, TokensUsedKey, UserIdKey };

/** Recomputes the visible status: state query, Web UI current details, search attributes, memo. */
export function publish(s: SessionRun, status?: SessionStatus): void {
  const { state, spec, published } = s;
  // This session's own pending approvals, then those its running sub-agents reported (tagged with their session).
  const own = [...s.approvals.values()].filter((a) => a.status === 'pending');
  const open = s.childReports.size ? [...own, ...childApprovals(s.childReports)] : own;
  state.pendingApprovals = open;
  state.approvals = [...s.approvals.values()];
  state.status = nextStatus(state.status, status, open.length);
  setCurrentDetails(
    state.status === 'awaiting_approval' && s.signedApprovals
      ? approvalDetails(s.sessionId, open, spec?.approvals.auth?.requireSignature ?? false)
      : statusDetails(state, open),
  );
  // A sub-agent tells the session that delegated to it (which shows them as its own) when they change.
  if (state.delegatedFrom) reportApprovalsIfChanged(s, open, pendingMemo(open).key);
  if (!s.localSteps) {
    if (spec?.searchAttributes) {
      upsertSearchAttributes([
        { key: SessionStatusKey, value: state.status },
        { key: PendingApprovalsKey, value: open.length },
        { key: TokensUsedKey, value: state.usage.totalTokens },
        { key: CostUsdKey, value: state.costUsd },
      ]);
    }
    return;
  }
  // Each upsert is a command and a history event: send only what changed, and usage only when the
  // status changes (operators filter on status; token and cost figures need not be live per step).
  if (spec?.searchAttributes && state.status !== published.status) {
    upsertSearchAttributes([
      ...published.once.splice(0),
      { key: SessionStatusKey, value: state.status },
      { key: PendingApprovalsKey, value: open.length },
      { key: TokensUsedKey, value: state.usage.totalTokens },
      { key: CostUsdKey, value: state.costUsd },
    ]);
    published.status = state.status;
    published.pending = open.length;
  } else if (spec?.searchAttributes && open.length !== published.pending) {
    upsertSearchAttributes([{ key: PendingApprovalsKey, value: open.length }]);
    published.pending = open.length;
  }
  // What waits on whom, readable by clients without a worker (describe / list return the memo): an
  // approver can decide a session whose worker just died without waiting for a query to be answered.
  const memo = pendingMemo(open);
  if (memo.key !== published.memo) {
    upsertMemo({ pendingApprovals: memo.value });
    published.memo = memo.key;
  }
}

/** Attributes set once per session (agent, sandbox mode, user), with the first status (new shape) or at once. */
export function publishOnce(s: SessionRun): void {
  const spec = s.spec!;
  if (!s.localSteps) {
    upsertSearchAttributes([
      { key: AgentNameKey, value: spec.name },
      { key: SandboxModeKey, value: spec.sandboxMode },
      ...(s.input.userId ? [{ key: UserIdKey, value: s.input.userId }] : []),
    ]);
    return;
  }
  // What the client set at start (workflows/search-attributes.ts) is in the start event: this run neither
  // sends it again nor upserts the 'running' status it started with. The choice is read from history, so
  // a replay makes it the same way; sessions started without them upsert everything, as before.
  const atStart = workflowInfo().typedSearchAttributes;
  const agentSet = atStart.get(AgentNameKey) === spec.name;
  const userSet = !s.input.userId || atStart.get(UserIdKey) === s.input.userId;
  s.published.once = [
    ...(agentSet ? [] : [{ key: AgentNameKey, value: spec.name }]),
    { key: SandboxModeKey, value: spec.sandboxMode },
    ...(userSet ? [] : [{ key: UserIdKey, value: s.input.userId! }]),
  ];
  if (atStart.get(SessionStatusKey) === 'running' && atStart.get(PendingApprovalsKey) === 0) {
    s.published.status = 'running';
    s.published.pending = 0;
  }
}
