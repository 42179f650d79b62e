/**
 * A session's progress as events, derived from durable data only: the session store's transcript (steps,
 * tool calls, approval requests, tool results, the final answer) and the workflow's approval records
 * (decisions). Nothing lives in memory between requests, so a client resumes with `Last-Event-ID` across
 * API restarts: event ids are `<seq>.<n>`, ordered by store sequence number, then position.
 */
import type { StoredMessage } from '../runtime/store';
import type { ApprovalRecord, CheckedToolCall, ModelTurn } from '../workflows/types';

export type SessionEventType = 'message' | 'step' | 'tool_call' | 'approval_requested' | 'approval_decided' | 'tool_result' | 'final_answer';

export interface SessionEvent {
  id: string;
  type: SessionEventType;
  data: Record<string, unknown>;
}

/** Sub-positions within one seq: a tool call at seq T is requested, decided, then has its result. */
const SUB = { message: 0, step: 0, final: 1, toolCall: 0, requested: 1, decided: 2, result: 3 } as const;

export function eventId(seq: number, sub: number): string {
  return `${seq}.${sub}`;
}

/** `<seq>.<n>` as a sortable pair; undefined for anything else (a client-supplied header). */
export function parseEventId(id: string | undefined): [number, number] | undefined {
  const m = id?.match(/^(\d{1,12})\.(\d{1,3})$/);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export function isAfter(id: string, after: [number, number] | undefined): boolean {
  if (!after) return true;
  const p = parseEventId(id)!;
  return p[0] > after[0] || (p[0] === after[0] && p[1] > after[1]);
}

const TEXT_PREVIEW = 2000;
const preview = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, TEXT_PREVIEW) : null);

/** Events for the stored transcript plus the approval records; sorted by id. */
export function sessionEvents(sessionId: string, stored: StoredMessage[], approvals: ApprovalRecord[]): SessionEvent[] {
  const events: SessionEvent[] = [];
  for (const m of stored) {
    const role = m.message.role;
    if (role === 'user') events.push({ id: eventId(m.seq, SUB.message), type: 'message', data: { seq: m.seq, text: preview(m.message.content) } });
    if (role === 'assistant') {
      const turn = m.meta?.turn as ModelTurn | undefined;
      const calls: CheckedToolCall[] = turn?.toolCalls ?? [];
      events.push({ id: eventId(m.seq, SUB.step), type: 'step', data: { seq: m.seq, content: preview(m.message.content), usage: turn?.usage ?? null, toolCalls: calls.length } });
      if (calls.length === 0) events.push({ id: eventId(m.seq, SUB.final), type: 'final_answer', data: { seq: m.seq, text: preview(m.message.content) } });
      // The workflow gives the calls of a turn the seqs right after the turn's own (see runUntilAnswer).
      calls.forEach((call, i) => {
        const seq = m.seq + 1 + i;
        events.push({ id: eventId(seq, SUB.toolCall), type: 'tool_call', data: { seq, tool: call.name, args: call.args, summary: call.summary, ...(call.error ? { error: call.error } : {}) } });
        if (call.approval) {
          events.push({
            id: eventId(seq, SUB.requested),
            type: 'approval_requested',
            data: { seq, approvalId: `${sessionId}/${seq}`, tool: call.name, args: call.args, reason: call.approval.reason, argsHash: call.approval.argsHash },
          });
        }
      });
    }
    if (role === 'tool') {
      events.push({ id: eventId(m.seq, SUB.result), type: 'tool_result', data: { seq: m.seq, tool: m.meta?.tool ?? null, ok: m.meta?.ok !== false, text: preview(m.message.content) } });
    }
  }
  for (const a of approvals) {
    if (a.status === 'pending') continue;
    events.push({
      id: eventId(a.seq, SUB.decided),
      type: 'approval_decided',
      data: {
        seq: a.seq,
        approvalId: a.approvalId,
        tool: a.tool,
        status: a.status,
        ...(a.approver ? { approver: a.approver } : {}),
        ...(a.comment ? { comment: a.comment } : {}),
        ...(a.decidedAt ? { decidedAt: a.decidedAt } : {}),
        ...(a.originalArgs !== undefined ? { args: a.args, originalArgs: a.originalArgs } : {}),
      },
    });
  }
  return events.sort((x, y) => {
    const [a, b] = [parseEventId(x.id)!, parseEventId(y.id)!];
    return a[0] - b[0] || a[1] - b[1];
  });
}

/** One event in the text/event-stream format (data is one JSON line, so no newline splitting is needed). */
export function formatSse(e: SessionEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
