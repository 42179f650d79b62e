/**
 * Automatic memory in the loop: recall at the start, compaction when the context grows past its
 * budget, an episode summary at the end. It helps a session but never ends one.
 */
import { isCancellation, log, workflowInfo } from '@temporalio/workflow';
import type { SessionState } from '../types';
import { type Activities, compactContext, recallMemories, summarizeSession } from './activities';
import { addUsage } from './budget';
import { activityError } from './failures';
import type { SessionRun } from './run';

/** Compaction starts when the last call's prompt passed this share of the context budget. */
export const COMPACT_AT = 0.8;

const memoryState = (s: SessionRun): NonNullable<SessionState['memory']> => (s.state.memory ??= { recalled: [], compactions: 0 });

/** Automatic memory helps a session but must never end it: a failure is recorded and the session goes on. */
async function memoryOptional<T>(s: SessionRun, what: string, work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (err) {
    if (isCancellation(err)) throw err;
    const reason = activityError(err)?.message ?? String(err);
    memoryState(s).errors = [...(memoryState(s).errors ?? []), `${what}: ${reason}`];
    log.warn(`automatic memory (${what}) failed; the session goes on`, { reason });
    return undefined;
  }
}

/** The memories most relevant to the first request, pinned into the model's context and shown in the transcript. */
export async function recallAtStart(s: SessionRun, query: string): Promise<void> {
  const spec = s.spec!;
  const { state } = s;
  if (!spec.memory || spec.memory.recallK <= 0) return;
  const recalled = await memoryOptional(s, 'recall', () =>
    recallMemories.executeWithOptions(
      { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 }, summary: `recall memories for ${state.userId ?? spec.name}` },
      [{ agent: spec.name, ...(state.userId ? { userId: state.userId } : {}), query, k: spec.memory!.recallK }],
    ),
  );
  if (!recalled) return;
  memoryState(s).recalled = recalled.memories.map((m) => m.id);
  if (recalled.text) s.ledger.addMessage({ role: 'system', content: recalled.text }, { role: 'system', text: recalled.text, kind: 'memory' }, { pinned: true });
}

/** Whether the last model call's prompt came close enough to the context budget to compact first. */
export function needsCompaction(s: SessionRun): boolean {
  const budget = s.spec!.memory?.contextBudgetTokens;
  return !!budget && s.lastPromptTokens >= budget * COMPACT_AT;
}

/** When the last call's context passed the budget, older turns are summarised and the summary stands in for them. */
export async function compactIfNeeded(s: SessionRun): Promise<void> {
  const spec = s.spec!;
  const budget = spec.memory?.contextBudgetTokens;
  if (!budget || s.lastPromptTokens < budget * COMPACT_AT) return;
  const summarySeq = s.ledger.take();
  // Messages the workflow created since the last call are stored with the compaction, so the summary sees them.
  const flushed = s.ledger.flush();
  let result: Awaited<ReturnType<Activities['compactContext']>>;
  try {
    result = await compactContext.executeWithOptions(
      {
        startToCloseTimeout: '5 minutes',
        retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
        summary: `compact context (${s.lastPromptTokens} tokens > ${Math.round(budget * COMPACT_AT)})`,
      },
      [
        {
          sessionId: s.sessionId,
          runId: workflowInfo().runId,
          agent: spec.name,
          model: spec.model,
          contextFrom: s.context?.fromSeq ?? 0,
          beforeSeq: summarySeq,
          summarySeq,
          ...(s.context?.summarySeq !== undefined ? { previousSummarySeq: s.context.summarySeq } : {}),
          keepRecent: spec.memory!.keepRecentMessages,
          pending: flushed,
        },
      ],
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    // A failed compaction must not end the session: carry on with the full context (the next call may still fit).
    s.ledger.unflush(flushed);
    log.warn('context compaction failed; continuing without it', { error: String(err) });
    s.lastPromptTokens = 0;
    return;
  }
  s.lastPromptTokens = 0;
  if (!result) return;
  addUsage(s.state, result.usage, spec.pricing);
  s.context = { fromSeq: result.contextFrom, summarySeq: result.summarySeq };
  memoryState(s).compactions += 1;
  s.state.transcript.push({ seq: summarySeq, role: 'system', text: result.preview, kind: 'summary' });
}

/** End of session: an episode summary and extracted facts, with provenance, for later sessions. */
export async function summarizeAtEnd(s: SessionRun): Promise<void> {
  const run = s.spec;
  const { state } = s;
  if (!run?.memory?.summarizeAtEnd || state.steps === 0) return;
  const result = await memoryOptional(s, 'episode summary', () =>
    summarizeSession.executeWithOptions(
      {
        startToCloseTimeout: '5 minutes',
        retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 5 },
        summary: `summarise session into memory (${state.userId ? `user/${state.userId}` : `agent/${run.name}`})`,
      },
      [{ sessionId: s.sessionId, runId: workflowInfo().runId, agent: run.name, ...(state.userId ? { userId: state.userId } : {}), step: s.ledger.nextSeq, model: run.model }],
    ),
  );
  if (!result) return;
  addUsage(state, result.usage, run.pricing);
  Object.assign(memoryState(s), { episodeId: result.episodeId, factIds: result.factIds });
}
