/**
 * agentctl's exit codes (README, "agentctl") and the error that carries one. Scripts branch on these, so
 * they never change meaning.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';

export const EXIT = {
  ok: 0,
  /** An unexpected error (a bug or an unforeseen failure). */
  internal: 1,
  /** Wrong usage or invalid input (commander uses 1 for its own errors; we map them to 2). */
  usage: 2,
  /** The session, approval or agent named does not exist. */
  notFound: 3,
  /** The session refused the request (validator reason: bad signature, not in group, already decided...). */
  refused: 4,
  /** Temporal (or the memory store) cannot be reached at the address given. */
  unreachable: 5,
  /** watch: the session ended failed or cancelled. */
  sessionFailed: 6,
  /** The feature does not exist in this version (fork). */
  notAvailable: 7,
  /** watch: the session paused (waiting for an approval, a message or a budget top-up). */
  paused: 10,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** Maps what the client library throws to a message naming the id or address, and an exit code. */
export function classify(err: unknown, ctx: { address: string; sessionId?: string }): CliError {
  if (err instanceof CliError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof WorkflowNotFoundError || /workflow not found|not found for ID/i.test(msg)) {
    return new CliError(`session '${ctx.sessionId ?? '?'}' not found at ${ctx.address}`, EXIT.notFound);
  }
  if (err instanceof WorkflowUpdateFailedError || /^decision refused: /.test(msg)) {
    return new CliError(`session '${ctx.sessionId ?? '?'}' refused: ${msg.replace(/^decision refused: /, '')}`, EXIT.refused);
  }
  if (/cannot connect to Temporal at/.test(msg)) return new CliError(`${msg}. Start a dev server with: agentctl server`, EXIT.unreachable);
  if (/invalid session id|is not a valid session id/i.test(msg)) return new CliError(msg, EXIT.usage);
  if (/^unknown agent /.test(msg)) return new CliError(msg, EXIT.notFound);
  return new CliError(msg, EXIT.internal);
}
