/** The session id grammar (workflows/session-id.ts) as a zod schema and an assertion, for the edges (client, HTTP, CLI). */
import { z } from 'zod';
import { SESSION_ID_MAX_LENGTH, sessionIdProblem } from '../workflows/session-id';

export { sessionIdProblem, SESSION_ID_MAX_LENGTH, SESSION_ID_PATTERN } from '../workflows/session-id';

export const SessionId = z
  .string()
  .max(SESSION_ID_MAX_LENGTH)
  .superRefine((id, ctx) => {
    const problem = sessionIdProblem(id);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export class InvalidSessionIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidSessionIdError';
  }
}

/** Throws InvalidSessionIdError with the grammar when `id` is not a valid session id. */
export function assertSessionId(id: unknown): string {
  const problem = sessionIdProblem(id);
  if (problem) throw new InvalidSessionIdError(problem);
  return id as string;
}
