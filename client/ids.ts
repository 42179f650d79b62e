import { randomBytes } from 'node:crypto';

/** Short random id for session ids (URL-safe). */
export function nanoid(bytes = 6): string {
  return randomBytes(bytes).toString('base64url');
}
