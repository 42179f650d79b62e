/**
 * Host-side use of secrets. A tool that needs a credential for an outbound call makes the call here, on
 * the worker, with the value added to the request: the value never enters the sandbox (model-controlled
 * code), the model's arguments, or the tool's result. The response is the tool's to summarise; whatever
 * it returns is still redacted by the runtime.
 */
import { z } from 'zod';
import type { ToolContext } from '../runtime/agent';

export interface SecretHeaderOptions {
  /** Header carrying the secret. Default 'authorization'. */
  header?: string;
  /** Prefix before the value ('Bearer' by default for authorization, none for other headers; '' for none). */
  scheme?: string;
}

const HeaderName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'not a valid HTTP header name');

/** Headers carrying the declared secret `name`; throws (naming the fix) when the tool did not declare it. */
export function secretHeaders(ctx: Pick<ToolContext, 'secrets'>, name: string, opts: SecretHeaderOptions = {}): Record<string, string> {
  const value = ctx.secrets[name];
  if (value === undefined) {
    throw new Error(`secret '${name}' is not available to this tool: add it to the tool's \`secrets\` (declared: ${Object.keys(ctx.secrets).join(', ') || 'none'})`);
  }
  const header = HeaderName.parse(opts.header ?? 'authorization').toLowerCase();
  const scheme = opts.scheme ?? (header === 'authorization' ? 'Bearer' : '');
  return { [header]: scheme ? `${scheme} ${value}` : value };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * `fetch` from the worker with the declared secret `name` added as a header. Refuses to send a secret
 * in clear text (http: other than loopback) and never follows a redirect (that could carry the header
 * elsewhere): a 3xx is returned to the tool as is. Cancelled with the tool (ctx.signal).
 */
export async function fetchWithSecret(
  ctx: Pick<ToolContext, 'secrets' | 'signal'>,
  name: string,
  url: string | URL,
  init: RequestInit & SecretHeaderOptions = {},
): Promise<Response> {
  const target = new URL(url);
  if (target.protocol !== 'https:' && !(target.protocol === 'http:' && LOOPBACK.has(target.hostname))) {
    throw new Error(`refusing to send secret '${name}' to ${target.origin}: use https (plain http only to loopback)`);
  }
  const { header, scheme, headers, ...rest } = init;
  const merged = new Headers(headers);
  for (const [k, v] of Object.entries(secretHeaders(ctx, name, { ...(header ? { header } : {}), ...(scheme !== undefined ? { scheme } : {}) }))) merged.set(k, v);
  return fetch(target, { ...rest, headers: merged, redirect: 'manual', signal: init.signal ?? ctx.signal });
}
