/**
 * The activities a session calls, with their timeouts and retry policies. Only types come from the
 * activities module (workflow code never imports activity code).
 */
import { ActivityCancellationType, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type * as activities from '../../activities';

export type Activities = ReturnType<typeof activities.createActivities>;
export type ModelTurnResult = Awaited<ReturnType<Activities['callModel']>>;

export const { describeAgent, checkToolArgs, recallMemories } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
/** The same bookkeeping as local activities (new step shape): pure reads of the worker's registry. */
export const local = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
/** Summaries and compaction are model calls: same retry policy as the agent's own model calls. */
export const { summarizeSession, compactContext } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
});
/**
 * Rate limits, 5xx and timeouts are retried with backoff (the openai client's own retries are off, so
 * every attempt is visible in history); auth and bad-request errors are non-retryable.
 */
export const MODEL_ACTIVITY = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
export const { callModel } = proxyActivities<Activities>(MODEL_ACTIVITY);
/** Per-tool timeouts and retries are given at each call (executeWithOptions), from the agent's spec. */
export const { runTool } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

/** Webhooks may be down for a while: retried with backoff for about a quarter of an hour, then given up (logged). */
export const NOTIFY_ACTIVITY = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 12 },
} as const;
export const { notifyApproval } = proxyActivities<Activities>(NOTIFY_ACTIVITY);
