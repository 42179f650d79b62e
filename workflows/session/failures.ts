/**
 * How failures look inside the session loop. Imports only `@temporalio/common` (no workflow context):
 * unit-testable outside a workflow.
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';

/**
 * The failure of an activity call: regular activities wrap it in an ActivityFailure, local activities
 * reject with the failure itself (an ApplicationFailure or a TimeoutFailure). Undefined for anything else.
 */
export function activityError(err: unknown): Error | undefined {
  if (err instanceof ActivityFailure) return err.cause instanceof Error ? err.cause : err;
  if (err instanceof ApplicationFailure || err instanceof TimeoutFailure) return err;
  return undefined;
}

/** Thrown inside the loop when an `end` signal stops the session between steps. */
export class SessionEnded extends Error {}
