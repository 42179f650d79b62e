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

/** Where a request went, for error messages: the endpoint without credentials or query. */
export function endpointOf(openai: Pick<OpenAI, 'baseURL'>): string {
  try {
    const u = new URL(openai.baseURL);
    return `${u.origin}${u.pathname.replace(/\/$/, '')}`;
  } catch {
    return String(openai.baseURL);
  }
}

/**
 * Checks that a 200 answer is a chat completion the runtime can use. An endpoint that answers 200 with
 * something else (an HTML page, a proxy's JSON, `{ "choices": [] }`) will answer the same on a retry:
 * fail at once, naming the endpoint, what was wrong and what to check.
 */
export function checkCompletion(response: unknown, endpoint: string): OpenAI.Chat.Completions.ChatCompletion {
  const fail = (what: string): never => {
    throw ApplicationFailure.nonRetryable(
      `model endpoint ${endpoint} answered 200 but ${what}: check that OPENAI_BASE_URL points at an OpenAI-compatible /chat/completions API (usually ending in /v1)`,
      'ModelResponseInvalid',
    );
  };
  if (!response || typeof response !== 'object' || Array.isArray(response)) return fail(`the body is not a JSON object (got ${preview(response)})`);
  const choices = (response as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return fail(`the body has no "choices" array (keys: ${Object.keys(response).slice(0, 10).join(', ') || 'none'})`);
  if (choices.length === 0) return fail('"choices" is empty');
  const message = (choices[0] as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object') return fail('choices[0] has no "message" object');
  return response as OpenAI.Chat.Completions.ChatCompletion;
}

function preview(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/**
 * Heartbeats while waiting, passes the activity's cancellation to the HTTP request, and turns 4xx
 * answers and unusable 200s into non-retryable failures; 429, 5xx and network errors stay retryable
 * (Temporal backs off), with the endpoint named so an unreachable OPENAI_BASE_URL is obvious.
 */
export async function createCompletion(openai: OpenAI, body: ChatCompletionCreateParamsNonStreaming): Promise<OpenAI.Chat.Completions.ChatCompletion> {
  const endpoint = endpointOf(openai);
  let response: unknown;
  try {
    response = await withHeartbeat(openai.chat.completions.create(body, { signal: Context.current().cancellationSignal }));
  } catch (err) {
    if (err instanceof OpenAI.APIError && err.status !== undefined && NON_RETRYABLE_MODEL_STATUS.has(err.status)) {
      throw ApplicationFailure.nonRetryable(`model endpoint ${endpoint} answered ${err.status}: ${err.message}`, 'ModelRequestRejected');
    }
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      throw ApplicationFailure.retryable(`model endpoint ${endpoint} did not answer in time: check that it is up and OPENAI_BASE_URL is right`, 'ModelEndpointTimeout');
    }
    if (err instanceof OpenAI.APIConnectionError) {
      const cause = (err.cause as NodeJS.ErrnoException | undefined)?.cause as NodeJS.ErrnoException | undefined;
      const code = cause?.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code ?? err.message;
      throw ApplicationFailure.retryable(`model endpoint ${endpoint} is unreachable (${code}): check OPENAI_BASE_URL and that the server is up`, 'ModelEndpointUnreachable');
    }
    throw err;
  }
  return checkCompletion(response, endpoint);
}
