/** Activity helpers for long waits: heartbeats, and one model call with the activity's cancellation. */
import { Context } from '@temporalio/activity';
import type { ModelProvider, ModelReply, ModelRequest } from '../runtime/model/provider';

/** Heartbeats while `work` runs, so a dead worker is noticed within one heartbeat timeout and cancellation is delivered. */
export async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const ctx = Context.current();
  // A local activity has no heartbeat on the server (its workflow task is heartbeated instead): the SDK only
  // logs "Activity heartbeat failed ... UnknownActivity" for each one.
  if (ctx.info.isLocal) return work;
  const timer = setInterval(() => ctx.heartbeat(), 1000); // the SDK throttles what it actually sends
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * One model call from an activity: heartbeats while waiting and passes the activity's cancellation to the
 * request. The provider applies the error policy (non-retryable for answers a retry cannot change).
 */
export function callProvider(provider: ModelProvider, request: Omit<ModelRequest, 'signal'>): Promise<ModelReply> {
  return withHeartbeat(provider.complete({ ...request, signal: Context.current().cancellationSignal }));
}
