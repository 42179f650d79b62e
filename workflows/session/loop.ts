/**
 * The turn loop: model call, the tool calls it asks for, again until the assistant answers without
 * tool calls; pausing on the budget, compacting, and moving to a fresh run between steps when history
 * grows. Also how a run ends: finish (completed/ended) or continue-as-new.
 */
import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { SessionResult, SessionStatus, ToolRunResult } from '../types';
import type { ModelTurnResult } from './activities';
import { withdrawPending } from './approvals';
import { budgetProblem, addUsage } from './budget';
import { buildCarry } from './carry';
import { delegatedOfState, delegationDepth, modelToolNames, runningChildren } from './delegation';
import { activityError, SessionEnded } from './failures';
import { compactIfNeeded, needsCompaction, summarizeAtEnd } from './memory';
import { modelCall } from './model-call';
import { inParallel } from './parallel';
import { publish } from './publish';
import type { SessionRun } from './run';
import { runToolCall } from './tool-call';

/** Tool calls of one turn running at the same time, when the agent does not say. */
export const DEFAULT_MAX_PARALLEL_TOOL_CALLS = 8;

/** Pauses (does not fail) until a top-up makes room or the session is ended. */
export async function ensureBudget(s: SessionRun): Promise<void> {
  const { state } = s;
  let problem = budgetProblem(state);
  if (problem && state.delegatedFrom) {
    // A sub-agent does not pause: its parent waits on it. It ends, and the parent's model is told why.
    state.budgetExhausted = problem;
    throw ApplicationFailure.nonRetryable(`budget exhausted: ${problem} (the share of its parent's budget this sub-agent was given, or its own)`, 'SubAgentBudgetExhausted');
  }
  while (problem) {
    state.budgetExhausted = problem;
    publish(s, 'budget_exhausted');
    await condition(() => s.endRequested !== undefined || budgetProblem(state) !== problem);
    if (s.endRequested) throw new SessionEnded();
    problem = budgetProblem(state);
  }
  if (state.status === 'budget_exhausted') {
    delete state.budgetExhausted;
    publish(s, 'running');
  }
}

export function shouldContinueAsNew(s: SessionRun): boolean {
  const every = s.spec!.continueAsNewEverySteps;
  return workflowInfo().continueAsNewSuggested || (every !== undefined && s.state.steps - s.stepsAtRunStart >= every);
}

export async function continueAsNewNow(s: SessionRun, needInput: boolean): Promise<never> {
  // Sub-agents are child workflows of this run: closing it would cancel them. A turn joins its children
  // before the loop can get here; the wait says so should that ever change.
  await condition(() => allHandlersFinished() && runningChildren(s.state).length === 0);
  const carry = buildCarry({
    state: s.state,
    nextSeq: s.ledger.nextSeq,
    pending: s.ledger.pending,
    inbox: s.inbox,
    topUps: s.topUps,
    needInput,
    ...(s.context ? { context: s.context } : {}),
    lastPromptTokens: s.lastPromptTokens,
  });
  // By name, not by function: this module must not import the workflow function that imports it.
  return continueAsNew<(input: typeof s.input) => Promise<SessionResult>>({ ...s.input, carry });
}

export async function finish(s: SessionRun, status: SessionStatus, endReason?: string): Promise<SessionResult> {
  const { state } = s;
  if (endReason) state.endReason = endReason;
  if (status === 'completed') await summarizeAtEnd(s);
  withdrawPending(s.approvals.values());
  publish(s, status);
  await condition(allHandlersFinished);
  return {
    status,
    ...(state.finalAnswer !== undefined ? { finalAnswer: state.finalAnswer } : {}),
    steps: state.steps,
    usage: state.usage,
    costUsd: state.costUsd,
    ...(state.endReason ? { endReason: state.endReason } : {}),
    ...(state.delegation ? { delegated: delegatedOfState(state) } : {}),
  };
}

/**
 * Tools the model call may run itself (activities, callModel): short, in-worker, read-only tools. Only on the local
 * step shape; whether a result came back that way is read from the recorded turn, so replay takes the same path.
 */
function eagerToolsInput(s: SessionRun): { eagerTools?: string[]; userId?: string; maxParallelToolCalls?: number } {
  if (!s.localSteps) return {};
  const spec = s.spec!;
  const eagerTools = spec.tools.filter((t) => t.runAs === 'local' && !t.builtin && t.effects !== 'write').map((t) => t.name);
  if (eagerTools.length === 0) return {};
  return {
    eagerTools,
    ...(s.state.userId ? { userId: s.state.userId } : {}),
    maxParallelToolCalls: spec.maxParallelToolCalls ?? DEFAULT_MAX_PARALLEL_TOOL_CALLS,
  };
}

/** The result the model call already produced for call `i`, if it ran it under the seq the ledger gave that call. */
function eagerResult(turn: ModelTurnResult, i: number, seq: number): ToolRunResult | undefined {
  const result = turn.eager?.[i];
  return result && seq === turn.seq + 1 + i ? result : undefined;
}

/** One model turn, repeated until the assistant answers without tool calls; returns the answer. */
export async function runUntilAnswer(s: SessionRun): Promise<string> {
  const { state } = s;
  const spec = s.spec!;
  for (let first = true; ; first = false) {
    // Between steps, a long turn moves to a fresh run (history stays small); handlers must be idle first.
    if (!first && shouldContinueAsNew(s) && state.pendingApprovals.length === 0 && allHandlersFinished()) {
      await continueAsNewNow(s, false);
    }
    // Awaited only when there is something to do: every promise in workflow code is tracked by the
    // SDK (a stack trace per promise), and these run on every step.
    if (budgetProblem(state) || state.status === 'budget_exhausted') await ensureBudget(s);
    if (s.endRequested) throw new SessionEnded();
    if (needsCompaction(s)) await compactIfNeeded(s);
    const seq = s.ledger.take();
    let turn: ModelTurnResult;
    try {
      turn = await modelCall(
        s,
        {
          sessionId: s.sessionId,
          agent: spec.name,
          model: spec.model,
          seq,
          pending: s.ledger.flush(),
          // At the delegation depth limit the delegate tools are not offered (a call would be refused).
          toolNames: modelToolNames(spec.tools, delegationDepth(state)),
          ...(s.context ? { context: s.context } : {}),
          ...eagerToolsInput(s),
        },
        `model ${spec.model} (step ${state.steps + 1})`,
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Non-retryable model errors (auth, bad request) or retries exhausted: the session fails with the reason visible.
      const reason = activityError(err)?.message ?? String(err);
      state.error = `model call failed: ${reason}`;
      publish(s, 'failed');
      throw ApplicationFailure.nonRetryable(state.error, 'ModelCallFailed');
    }
    // Usage is taken from the completed activity only: a retried or replayed call is never counted twice.
    state.steps++;
    addUsage(state, turn.usage, spec.pricing);
    s.lastPromptTokens = turn.usage.promptTokens;
    state.transcript.push({
      seq,
      role: 'assistant',
      text: turn.content,
      ...(turn.toolCalls.length ? { toolCalls: turn.toolCalls.map(({ id, name, args, error }) => ({ id, name, args, ...(error ? { error } : {}) })) } : {}),
    });
    publish(s);
    if (turn.toolCalls.length === 0) return turn.content ?? '';

    // Independent calls of one turn run in parallel; each waits for its own approval if it needs one.
    const seqs = turn.toolCalls.map(() => s.ledger.take());
    s.turnDelegations = 0;
    const calls = turn.toolCalls.map((call, i) => () => runToolCall(s, call, seqs[i], eagerResult(turn, i, seqs[i])));
    // At most maxParallelToolCalls at a time: one turn cannot take every process slot or sandbox run.
    if (s.localSteps) await inParallel(calls, spec.maxParallelToolCalls ?? DEFAULT_MAX_PARALLEL_TOOL_CALLS);
    else await Promise.all(calls.map((run) => run()));
    s.ledger.sortPending();
    publish(s);
  }
}
