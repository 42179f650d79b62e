/**
 * The one grammar for session ids (= Temporal workflow ids). Every entry point checks it: the client,
 * the HTTP API and the CLI before they call Temporal, and the workflow itself at its start (a caller
 * that talks to Temporal directly is refused there).
 *
 * Grammar: 1..128 characters, the first an ASCII letter or digit, the rest ASCII letters, digits and
 * `. _ : @ -`. So `.`/`..`, `/`, `\`, whitespace, control characters, NUL and non-ASCII (homoglyphs,
 * normalisation tricks) are all out. The id never becomes a path by itself (the workspace folder is a
 * hash of it, see runtime/workspace.ts); the grammar is defence in depth and keeps ids printable in
 * logs, URLs and the Web UI.
 *
 * No imports on purpose: this file is bundled into the workflow (no Node, no zod there).
 */
export const SESSION_ID_MAX_LENGTH = 128;
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;

/** Why `id` is not a valid session id, or undefined when it is. Never echoes more than 40 characters of the id. */
export function sessionIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `session id must be a string, got ${typeof id}`;
  const shown = JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id);
  if (id.length === 0) return 'session id must not be empty';
  if (id.length > SESSION_ID_MAX_LENGTH) return `session id ${shown} is ${id.length} characters; at most ${SESSION_ID_MAX_LENGTH} are allowed`;
  if (!SESSION_ID_PATTERN.test(id)) {
    return `session id ${shown} is not allowed: use 1-${SESSION_ID_MAX_LENGTH} ASCII letters, digits and . _ : @ -, starting with a letter or digit`;
  }
  return undefined;
}
