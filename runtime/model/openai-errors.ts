/**
 * The runtime's error policy for calls through the `openai` client, shared by both OpenAI protocols:
 * answers that retrying cannot change fail at once and visibly; 429, 5xx and network errors stay
 * retryable (Temporal backs off), with the endpoint named so a wrong OPENAI_BASE_URL is obvious.
 */
import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';

/** Bad request, auth, unknown model: fail at once. */
const NON_RETRYABLE_MODEL_STATUS = new Set([400, 401, 403, 404, 422]);

/** Where a request went, for error messages: the endpoint without credentials or query. */
export function endpointOf(openai: Pick<OpenAI, 'baseURL'>): string {
  try {
    const u = new URL(openai.baseURL);
    return `${u.origin}${u.pathname.replace(/\/$/, '')}`;
  } catch {
    return String(openai.baseURL);
  }
}

/** Maps an error of the `openai` client to the runtime's retry policy; other errors pass unchanged. */
export function modelCallFailure(err: unknown, endpoint: string): unknown {
  if (err instanceof OpenAI.APIError && err.status !== undefined && NON_RETRYABLE_MODEL_STATUS.has(err.status)) {
    return ApplicationFailure.nonRetryable(`model endpoint ${endpoint} answered ${err.status}: ${err.message}`, 'ModelRequestRejected');
  }
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return ApplicationFailure.retryable(`model endpoint ${endpoint} did not answer in time: check that it is up and OPENAI_BASE_URL is right`, 'ModelEndpointTimeout');
  }
  if (err instanceof OpenAI.APIConnectionError) {
    const cause = (err.cause as NodeJS.ErrnoException | undefined)?.cause as NodeJS.ErrnoException | undefined;
    const code = cause?.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code ?? err.message;
    return ApplicationFailure.retryable(`model endpoint ${endpoint} is unreachable (${code}): check OPENAI_BASE_URL and that the server is up`, 'ModelEndpointUnreachable');
  }
  return err;
}

/** A 200 answer that is not the protocol: the same endpoint will answer the same on a retry. */
export function invalidAnswer(endpoint: string, path: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `model endpoint ${endpoint} answered 200 but ${what}: check that OPENAI_BASE_URL points at an OpenAI-compatible ${path} API (usually ending in /v1)`,
    'ModelResponseInvalid',
  );
}

export function preview(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}

/** Describes a value that should have been a JSON object, or undefined when it is one. */
export function notAnObject(v: unknown): string | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return `the body is not a JSON object (got ${preview(v)})`;
  return undefined;
}
