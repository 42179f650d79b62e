/**
 * The long session of issue 11 part 5, shared by `npm run test:long` (assertions) and `npm run bench`
 * (figures): one chat session of the `marathon` agent runs N model steps (default 5,000) in turns of
 * 500. Each turn starts with a chat message, its first tool call is a checkpoint that needs approval
 * (so an approval every 500 steps), then 499 no-op steps; the agent continues as new every 100 steps,
 * so messages and approvals arrive in runs other than the one that started the session.
 */
import { temporal } from '@temporalio/proto';
import { decideApproval } from '../../client/sessions';
import { lastMessage, messageText, type ModelScript } from '../../runtime/scripted-model';
import { openSessionStore } from '../../runtime/store';
import { sendMessageUpdate, stateQuery } from '../../workflows/messages';
import type { SessionState } from '../../workflows/types';
import { startSession } from '../../client/sessions';
import type { Harness } from './harness';

export const STEPS_PER_TURN = 500;

/** Stateless: what to do next is read off the last message (a retried model call gets the same answer). */
export function marathonScript(stepsPerTurn = STEPS_PER_TURN): ModelScript {
  return (req) => {
    // Context compaction (the agent's memory.contextBudgetTokens): a summary stands in for older turns.
    if (messageText(req.messages[0]).startsWith('CONTEXT COMPACTION TASK')) return { content: 'Summary: the agent has been calling noop in numbered steps.' };
    const last = lastMessage(req);
    if (last?.role === 'tool') {
      const n = (JSON.parse(messageText(last)) as { n: number }).n;
      if (n + 1 >= stepsPerTurn) return { content: `turn done after ${n} tool calls` };
      return { toolCalls: [{ name: 'noop', arguments: { n: n + 1 } }] };
    }
    // A user message starts a turn: its first call is a checkpoint a human approves.
    return { toolCalls: [{ name: 'noop', arguments: { n: 1, checkpoint: true } }] };
  };
}

export interface RunFigures {
  runId: string;
  events: number;
  /** Encoded size of the run's history (protobuf), what the server stores. */
  bytes: number;
  /** Size of the state handed to this run (its start input: the carry), 0 for the first run. */
  inputBytes: number;
  /** Steps done when the run started (from its carry). */
  stepsAtStart: number;
}

export interface MarathonResult {
  sessionId: string;
  steps: number;
  turns: number;
  wallMs: number;
  runs: RunFigures[];
  state: SessionState;
  /** What the session store holds: by role, and the user messages and final answers in order. */
  /** Context compactions the session did (state.memory.compactions). */
  compactions: number;
  stored: { count: number; byRole: Record<string, number>; userTexts: string[]; answers: string[]; toolResults: number };
  /** State query answer size when the session had done about 100 steps, and at the end. */
  stateQueryBytes: { at100: number; atEnd: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runMarathon(h: Harness, steps: number, log: (msg: string) => void = () => undefined): Promise<MarathonResult> {
  if (steps % STEPS_PER_TURN !== 0) throw new Error(`steps must be a multiple of ${STEPS_PER_TURN}, got ${steps}`);
  const turns = steps / STEPS_PER_TURN;
  h.model.setScript(marathonScript());
  const started = Date.now();
  const s = await startSession(h.client, { agent: 'marathon', mode: 'chat' }, h.config);
  let at100 = 0;
  for (let k = 1; k <= turns; k++) {
    // The turn stops on its checkpoint: the Update answers with the approval it waits for.
    const reply = await s.handle.executeUpdate(sendMessageUpdate, { args: [{ text: `turn ${k}` }] });
    if (reply.status !== 'awaiting_approval' || reply.pendingApprovals.length !== 1) {
      throw new Error(`turn ${k}: expected one pending checkpoint approval, got ${reply.status} with ${reply.pendingApprovals.length}`);
    }
    const a = reply.pendingApprovals[0];
    await decideApproval(h.client, s.sessionId, { approvalId: a.approvalId, decision: 'approve', approver: 'marathon-ops', argsHash: a.argsHash });
    for (;;) {
      const st = await s.handle.query(stateQuery);
      if (!at100 && st.steps >= 100) at100 = Buffer.byteLength(JSON.stringify(st));
      if (st.status === 'awaiting_input' && st.steps >= k * STEPS_PER_TURN) break;
      if (st.status === 'failed' || st.status === 'cancelled' || st.status === 'completed') throw new Error(`session ${st.status}: ${st.error ?? ''}`);
      await sleep(250);
    }
    log(`turn ${k}/${turns} done at ${Math.round((Date.now() - started) / 1000)} s`);
  }
  const state = await s.handle.query(stateQuery);
  const wallMs = Date.now() - started;
  const atEnd = Buffer.byteLength(JSON.stringify(state));
  await s.handle.signal('end', { reason: 'marathon over', by: 'marathon-ops' });
  await s.handle.result();

  // Every run of the chain, from the first to the last (continued-as-new events name the next).
  const runs: RunFigures[] = [];
  for (let runId: string | undefined = s.handle.firstExecutionRunId; runId; ) {
    const history: temporal.api.history.v1.IHistory = await h.client.workflow.getHandle(s.sessionId, runId).fetchHistory();
    const events: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data;
    const carry = input ? (JSON.parse(Buffer.from(input).toString()) as { carry?: { state: { steps: number } } }).carry : undefined;
    runs.push({
      runId,
      events: events.length,
      bytes: temporal.api.history.v1.History.encode(history).finish().length,
      inputBytes: carry ? (input?.length ?? 0) : 0,
      stepsAtStart: carry?.state.steps ?? 0,
    });
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }

  const store = openSessionStore(h.env.AGENT_STORE_URL);
  try {
    // Compaction summaries are stored as session messages too; they are not part of the conversation counted here.
    const all = await store.list(s.sessionId);
    const messages = all.filter((m) => m.meta?.kind !== 'summary');
    const byRole: Record<string, number> = {};
    for (const m of messages) byRole[String(m.message.role)] = (byRole[String(m.message.role)] ?? 0) + 1;
    return {
      sessionId: s.sessionId,
      steps: state.steps,
      turns,
      wallMs,
      runs,
      state,
      compactions: state.memory?.compactions ?? 0,
      stored: {
        count: messages.length,
        byRole,
        userTexts: messages.filter((m) => m.message.role === 'user').map((m) => String(m.message.content)),
        answers: messages.filter((m) => m.message.role === 'assistant' && typeof m.message.content === 'string' && m.message.content.startsWith('turn done')).map((m) => String(m.message.content)),
        toolResults: messages.filter((m) => m.message.role === 'tool').length,
      },
      stateQueryBytes: { at100, atEnd },
    };
  } finally {
    await store.close();
  }
}

/** Figures for examples/bench/RESULTS.md: history and state per step. */
export function marathonFigures(r: MarathonResult): Record<string, number> {
  const total = r.runs.reduce((n, x) => n + x.bytes, 0);
  const near = (step: number) => r.runs.reduce((best, x) => (Math.abs(x.stepsAtStart - step) < Math.abs(best.stepsAtStart - step) ? x : best), r.runs[1] ?? r.runs[0]);
  return {
    steps: r.steps,
    runs: r.runs.length,
    wallSeconds: r.wallMs / 1000,
    msPerStep: r.wallMs / r.steps,
    maxRunEvents: Math.max(...r.runs.map((x) => x.events)),
    maxRunBytes: Math.max(...r.runs.map((x) => x.bytes)),
    historyBytesPerStep: total / r.steps,
    carryBytesAtStep100: near(100).inputBytes,
    carryBytesAtEnd: r.runs[r.runs.length - 1].inputBytes,
    stateQueryBytesAt100: r.stateQueryBytes.at100,
    stateQueryBytesAtEnd: r.stateQueryBytes.atEnd,
  };
}
