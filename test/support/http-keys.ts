/** Bearer keys for HTTP tests: one identity per role, stored hashed as the API requires. */
import { sha256Hex, type AuthOptions, type Role } from '../../client/http-auth';

export const TEST_KEYS = {
  admin: 'key-admin-7c1e9a',
  approver: 'key-approver-3b8d21',
  outsider: 'key-outsider-90fa4c',
  starter: 'key-starter-5e62b0',
  viewer: 'key-viewer-d41f77',
} as const;

const identities: Record<keyof typeof TEST_KEYS, { id: string; groups: string[]; roles: Role[] }> = {
  admin: { id: 'root', groups: [], roles: ['admin'] },
  approver: { id: 'alice', groups: ['approvers', 'support-leads'], roles: ['approver', 'starter'] },
  outsider: { id: 'mallory', groups: ['finance'], roles: ['approver'] },
  starter: { id: 'sam', groups: [], roles: ['starter'] },
  viewer: { id: 'vic', groups: ['approvers'], roles: ['viewer'] },
};

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdef0123456789';

export const testAuth: AuthOptions = {
  keys: { keys: Object.entries(identities).map(([name, identity]) => ({ id: `test-${name}`, sha256: sha256Hex(TEST_KEYS[name as keyof typeof TEST_KEYS]), identity })) },
  jwtSecret: TEST_JWT_SECRET,
};

export const bearer = (who: keyof typeof TEST_KEYS): Record<string, string> => ({ authorization: `Bearer ${TEST_KEYS[who]}` });
