/** Activity helpers for long waits: heartbeats, and one chat completion with the runtime's error policy. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';

/** Answers that retrying cannot change (bad request, auth, unknown model): fail at once, visibly. */
const NON_RETRYABLE_MODEL_STATUS = new Set([400, 401, 403, 404, 422]);

/** Heartbeats while `work` runs, so a dead worker is noticed within one heartbeat timeout and cancellation is delivered. */
export async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 1000); // the SDK throttles what it actually sends
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * Heartbeats while waiting, passes the activity's cancellation to the HTTP request, and turns 4xx
 * answers into non-retryable failures; 429, 5xx and network errors stay retryable (Temporal backs off).
 */
export async function createCompletion(openai: OpenAI, body: ChatCompletionCreateParamsNonStreaming): Promise<OpenAI.Chat.Completions.ChatCompletion> {
  try {
    return await withHeartbeat(openai.chat.completions.create(body, { signal: Context.current().cancellationSignal }));
  } catch (err) {
    if (err instanceof OpenAI.APIError && err.status !== undefined && NON_RETRYABLE_MODEL_STATUS.has(err.status)) {
      throw ApplicationFailure.nonRetryable(`model endpoint answered ${err.status}: ${err.message}`, 'ModelRequestRejected');
    }
    throw err;
  }
}
