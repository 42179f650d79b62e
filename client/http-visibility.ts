/**
 * Lists served from Temporal's visibility store (one paged list call), never by asking every workflow:
 * sessions by search attribute, and what waits on a human (the memo each session publishes). Details an
 * approver needs (arguments, reason) come from the session store, each lookup bounded in time so one
 * unreachable session never holds up or breaks the list.
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { webUiLink, type RuntimeConfig } from '../runtime/config';
import type { SessionStore } from '../runtime/store';
import type { CheckedToolCall, ModelTurn, SessionStatus } from '../workflows/types';
import type { PendingApprovalRef } from './sessions';

export interface SessionFilters {
  agent?: string;
  status?: SessionStatus;
  userId?: string;
  /** Temporal's own status: Running, Completed, Failed, ... */
  executionStatus?: string;
}

export interface SessionSummary {
  sessionId: string;
  agent: string | null;
  status: SessionStatus | null;
  userId: string | null;
  executionStatus: string;
  pendingApprovals: number;
  startTime: string | null;
  closeTime: string | null;
  webUi: string;
}

export interface PendingApprovalView extends PendingApprovalRef {
  /** The session that asked (for a sub-agent's approval: the sub-agent; deciding there or through `delegatedFrom` works). */
  sessionId: string;
  /** Sessions that delegated to the asking one and list this approval too (decisions sent to them are forwarded). */
  delegatedFrom?: string[];
  seq: number;
  agent: string | null;
  userId: string | null;
  /** From the session store; absent with `detailsError` when the store did not answer in time. */
  args?: unknown;
  reason?: string;
  detailsError?: string;
  webUi: string;
}

export interface Page<T> {
  items: T[];
  /** Pass as `pageToken` for the next page; absent on the last page. */
  nextPageToken?: string;
}

// Values are bounded and restricted to this alphabet by the route schemas; checked again here because
// they are written into a query string.
const SAFE_VALUE = /^[A-Za-z0-9._@:\-/ ]{1,256}$/;
function clause(key: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!SAFE_VALUE.test(value)) throw new Error(`filter ${key}: letters, digits, space and . _ @ : - / only`);
  return `${key}="${value}"`;
}

export function sessionsQuery(f: SessionFilters): string {
  return [clause('AgentName', f.agent), clause('SessionStatus', f.status), clause('UserId', f.userId), clause('ExecutionStatus', f.executionStatus)]
    .filter(Boolean)
    .join(' AND ');
}

type RawInfo = temporal.api.workflow.v1.IWorkflowExecutionInfo;
type RawPayload = temporal.api.common.v1.IPayload;

function decode<T>(p: RawPayload | null | undefined): T | null {
  if (!p) return null;
  try {
    return defaultPayloadConverter.fromPayload<T>(p as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
  } catch {
    return null;
  }
}

const EXECUTION_STATUS = ['Unspecified', 'Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];
const isoOf = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null =>
  t?.seconds != null ? new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString() : null;

function summaryOf(raw: RawInfo, config: RuntimeConfig): SessionSummary & { memoPending: PendingApprovalRef[] | null } {
  const sa = raw.searchAttributes?.indexedFields ?? {};
  const kw = (k: string): string | null => {
    const v = decode<string | string[]>(sa[k]);
    return Array.isArray(v) ? (v[0] ?? null) : v;
  };
  const sessionId = raw.execution?.workflowId ?? '';
  return {
    sessionId,
    agent: kw('AgentName'),
    status: kw('SessionStatus') as SessionStatus | null,
    userId: kw('UserId'),
    executionStatus: EXECUTION_STATUS[Number(raw.status ?? 0)] ?? 'Unspecified',
    pendingApprovals: Number(decode<number>(sa.PendingApprovals) ?? 0),
    startTime: isoOf(raw.startTime),
    closeTime: isoOf(raw.closeTime),
    webUi: webUiLink(config, sessionId),
    memoPending: decode<PendingApprovalRef[] | null>(raw.memo?.fields?.pendingApprovals),
  };
}

async function listPage(client: Client, query: string, pageSize: number, pageToken: string | undefined): Promise<{ infos: RawInfo[]; next?: string }> {
  const res = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query,
    pageSize,
    ...(pageToken ? { nextPageToken: Buffer.from(pageToken, 'base64url') } : {}),
  });
  const next = res.nextPageToken && res.nextPageToken.length > 0 ? Buffer.from(res.nextPageToken).toString('base64url') : undefined;
  return { infos: res.executions ?? [], ...(next ? { next } : {}) };
}

export async function listSessions(client: Client, config: RuntimeConfig, f: SessionFilters, pageSize: number, pageToken?: string): Promise<Page<SessionSummary>> {
  const { infos, next } = await listPage(client, sessionsQuery(f), pageSize, pageToken);
  return { items: infos.map((i) => { const { memoPending: _m, ...s } = summaryOf(i, config); return s; }), ...(next ? { nextPageToken: next } : {}) };
}

/** Rejects after `ms` with a message naming what did not answer. */
export function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** The tool call an approval at `seq` is about: the calls of a turn take the seqs right after the turn's. */
export async function approvalCall(store: SessionStore, sessionId: string, seq: number): Promise<CheckedToolCall | undefined> {
  const window = await store.list(sessionId, { fromSeq: Math.max(0, seq - 65), beforeSeq: seq });
  for (let i = window.length - 1; i >= 0; i--) {
    const turn = window[i].meta?.turn as ModelTurn | undefined;
    if (window[i].message.role === 'assistant' && turn) return turn.toolCalls[seq - window[i].seq - 1];
  }
  return undefined;
}

export interface PendingOptions {
  pageSize: number;
  pageToken?: string;
  /** Only approvals asked of one of these groups. */
  groups?: string[];
  /** Bound on each session's store lookup. */
  perSessionTimeoutMs: number;
}

export async function listPendingApprovals(
  client: Client,
  store: SessionStore,
  config: RuntimeConfig,
  opts: PendingOptions,
): Promise<Page<PendingApprovalView> & { unavailable: Array<{ sessionId: string; error: string }> }> {
  const { infos, next } = await listPage(client, 'SessionStatus="awaiting_approval" AND ExecutionStatus="Running"', opts.pageSize, opts.pageToken);
  const unavailable: Array<{ sessionId: string; error: string }> = [];
  const perSession = await Promise.all(
    infos.map(async (raw): Promise<PendingApprovalView[]> => {
      const s = summaryOf(raw, config);
      if (!s.memoPending) {
        // Sessions publish what waits in their memo; one without it cannot be listed from visibility alone.
        unavailable.push({ sessionId: s.sessionId, error: 'the session publishes no pendingApprovals memo yet (it may be starting); GET /sessions/:id shows its state' });
        return [];
      }
      return Promise.all(
        s.memoPending
          .filter((p) => !opts.groups || opts.groups.includes(p.approverGroup))
          .map(async (p): Promise<PendingApprovalView> => {
            const seq = Number(p.approvalId.slice(p.approvalId.lastIndexOf('/') + 1));
            // A sub-agent's approval shown by the session that delegated to it: its details are the sub-agent's.
            const asker = p.sessionId ?? s.sessionId;
            const view: PendingApprovalView = {
              ...p,
              sessionId: asker,
              seq,
              agent: asker === s.sessionId ? s.agent : null,
              userId: s.userId,
              webUi: asker === s.sessionId ? s.webUi : webUiLink(config, asker),
              ...(asker !== s.sessionId ? { delegatedFrom: [s.sessionId] } : {}),
            };
            try {
              const call = await withTimeout(`session store for ${asker}`, opts.perSessionTimeoutMs, approvalCall(store, asker, seq));
              if (call) Object.assign(view, { args: call.args, ...(call.approval ? { reason: call.approval.reason } : {}) });
              else view.detailsError = `no tool call stored at seq ${seq}`;
            } catch (err) {
              view.detailsError = (err as Error).message;
            }
            return view;
          }),
      );
    }),
  );
  return { items: mergeDelegated(perSession.flat()), unavailable, ...(next ? { nextPageToken: next } : {}) };
}

/**
 * One row per approval: a sub-agent's approval is listed by the sub-agent and by each session above it
 * (all wait on the same human). Rows of one page are merged, keeping the asking session's own row (agent,
 * link) and the delegating sessions in `delegatedFrom`.
 */
export function mergeDelegated(items: PendingApprovalView[]): PendingApprovalView[] {
  const byId = new Map<string, PendingApprovalView>();
  for (const item of items) {
    const seen = byId.get(item.approvalId);
    if (!seen) {
      byId.set(item.approvalId, item);
      continue;
    }
    const own = seen.delegatedFrom ? (item.delegatedFrom ? seen : item) : seen;
    const other = own === seen ? item : seen;
    const via = [...new Set([...(own.delegatedFrom ?? []), ...(other.delegatedFrom ?? [])])];
    byId.set(item.approvalId, { ...own, ...(own.agent === null && other.agent !== null ? { agent: other.agent } : {}), ...(via.length ? { delegatedFrom: via } : {}) });
  }
  return [...byId.values()];
}
