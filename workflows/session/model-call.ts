/**
 * One model call. New step shape: one attempt as a local activity (no server round trip); if it fails
 * in a way a retry may fix (5xx, 429, timeout), the call moves to a regular activity with backoff, so
 * long retries never hold the workflow task. Both attempts use the same seq: a turn the first one
 * stored is reused, never paid for twice. Non-retryable answers (auth, bad request) fail at once.
 */
import { ActivityCancellationType, ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { type Activities, callModel, local, MODEL_ACTIVITY, type ModelTurnResult } from './activities';
import { activityError } from './failures';
import type { SessionRun } from './run';

export async function modelCall(s: SessionRun, args: Parameters<Activities['callModel']>[0], summary: string): Promise<ModelTurnResult> {
  const spec = s.spec!;
  // Tools run only inside the local call: a regular activity's retries may be minutes apart, and the workflow
  // runs the turn's tools itself when the turn comes back without their results.
  const { eagerTools: _eager, userId: _user, maxParallelToolCalls: _parallel, ...regularArgs } = args;
  const regular = (label: string) => callModel.executeWithOptions({ ...MODEL_ACTIVITY, heartbeatTimeout: spec.heartbeatTimeoutMs, summary: label }, [regularArgs]);
  if (!s.localSteps || !spec.localModelTimeoutMs) return regular(summary);
  try {
    // The call may also run the turn's eager tools: the longest one's timeout is added, and the activity starts an
    // eager tool only while it can still finish in time (the others are left to the workflow).
    const eager = spec.tools.filter((t) => args.eagerTools?.includes(t.name));
    const eagerMs = eager.length ? Math.max(...eager.map((t) => t.timeoutMs)) : 0;
    return await local.callModel.executeWithOptions(
      { startToCloseTimeout: spec.localModelTimeoutMs + eagerMs, retry: { maximumAttempts: 1 }, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, summary },
      [args],
    );
  } catch (err) {
    const failure = activityError(err);
    if (isCancellation(err) || !failure || (failure instanceof ApplicationFailure && failure.nonRetryable)) throw err;
    return regular(`${summary}, retried as an activity`);
  }
}
