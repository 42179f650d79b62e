/**
 * Budget arithmetic of a session: limits in force (the agent's budget plus top-ups), whether a limit is
 * reached, and what a model response costs. Pure: no Temporal imports, unit-tested in test/unit.
 */
import type { BudgetTopUp } from '../messages';
import type { Budget, SessionState, TokenUsage } from '../types';

/** The agent's limits raised by the top-ups; a limit the agent does not set stays absent (unlimited). */
export function limitsInForce(base: Budget, topUps: Budget): Budget {
  const sum = (a?: number, b?: number): number | undefined => (a === undefined ? undefined : a + (b ?? 0));
  return {
    ...(base.maxSteps !== undefined ? { maxSteps: sum(base.maxSteps, topUps.maxSteps) } : {}),
    ...(base.maxTokens !== undefined ? { maxTokens: sum(base.maxTokens, topUps.maxTokens) } : {}),
    ...(base.maxCostUsd !== undefined ? { maxCostUsd: sum(base.maxCostUsd, topUps.maxCostUsd) } : {}),
  };
}

/** Which limit the session has reached, or undefined while there is room. */
export function budgetProblem(state: Pick<SessionState, 'budget' | 'steps' | 'usage' | 'costUsd' | 'delegation'>): string | undefined {
  const b = state.budget;
  // Sub-agents' steps count against the session's maxSteps (their tokens and cost are already in usage and costUsd).
  const steps = state.steps + (state.delegation?.used.steps ?? 0);
  if (b.maxSteps !== undefined && steps >= b.maxSteps) return `maxSteps ${b.maxSteps} reached`;
  if (b.maxTokens !== undefined && state.usage.totalTokens >= b.maxTokens) return `maxTokens ${b.maxTokens} reached (${state.usage.totalTokens} used)`;
  if (b.maxCostUsd !== undefined && state.costUsd >= b.maxCostUsd) return `maxCostUsd ${b.maxCostUsd} reached ($${state.costUsd.toFixed(4)} spent)`;
  return undefined;
}

/** Adds a (validated) top-up to the running totals; returns what this top-up adds, as recorded on the state. */
export function addTopUp(topUps: Budget, t: BudgetTopUp): Budget {
  const add: Budget = {
    ...(t.addSteps ? { maxSteps: t.addSteps } : {}),
    ...(t.addTokens ? { maxTokens: t.addTokens } : {}),
    ...(t.addCostUsd ? { maxCostUsd: t.addCostUsd } : {}),
  };
  topUps.maxSteps = (topUps.maxSteps ?? 0) + (add.maxSteps ?? 0);
  topUps.maxTokens = (topUps.maxTokens ?? 0) + (add.maxTokens ?? 0);
  topUps.maxCostUsd = (topUps.maxCostUsd ?? 0) + (add.maxCostUsd ?? 0);
  return add;
}

/** Counts a completed call's usage and cost (never a retried or replayed one: callers pass recorded results only). */
export function addUsage(
  state: Pick<SessionState, 'usage' | 'costUsd'>,
  usage: TokenUsage,
  pricing: { inputPerMTokUsd: number; outputPerMTokUsd: number },
): void {
  state.usage.promptTokens += usage.promptTokens;
  state.usage.completionTokens += usage.completionTokens;
  state.usage.totalTokens += usage.totalTokens;
  state.costUsd += (usage.promptTokens * pricing.inputPerMTokUsd + usage.completionTokens * pricing.outputPerMTokUsd) / 1_000_000;
}
