/**
 * Who is calling the HTTP API. Identities, groups and roles come from configuration (a keys file, or
 * the claims of a JWT signed with a configured secret), never from the request body. Bearer keys are
 * stored as SHA-256 hashes: the file can be read by operators without handing out the keys.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';
import { z } from 'zod';

export const ROLES = ['viewer', 'starter', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A verified caller: what the workflow records as the approver of a decision made over HTTP. */
export interface Identity {
  id: string;
  groups: string[];
  roles: Role[];
  /** The key (keys file) or token issuer (JWT) the identity was verified with. */
  keyId: string;
}

const Name = z.string().min(1).max(128).regex(/^[A-Za-z0-9._@:-]+$/, 'letters, digits and . _ @ : - only');
const IdentityFields = z.object({ id: Name, groups: z.array(Name).max(64).default([]), roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length) }).strict();

export const KeysFile = z
  .object({
    keys: z
      .array(
        z
          .object({
            /** Names the key in logs and decision records (never the key itself). */
            id: Name,
            /** hex SHA-256 of the bearer key: `printf %s "$KEY" | sha256sum`. */
            sha256: z.string().regex(/^[0-9a-f]{64}$/, 'hex SHA-256 of the key (64 lowercase hex digits)'),
            identity: IdentityFields,
          })
          .strict(),
      )
      .max(10_000),
  })
  .strict();
export type KeysFile = z.infer<typeof KeysFile>;

export interface AuthOptions {
  /** Bearer keys (hashed) and the identities they stand for. */
  keys?: KeysFile;
  /** HS256 secret for JWTs whose claims carry `sub`, `groups` and `roles`. */
  jwtSecret?: string;
  /** Expected `iss` / `aud` of JWTs, when set. */
  jwtIssuer?: string;
  jwtAudience?: string;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Reads and checks a keys file; the error names the file and the field to fix. */
export function loadKeysFile(file: string): KeysFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`HTTP_KEYS_FILE ${file}: cannot read it as JSON (${(err as Error).message})`);
  }
  const parsed = KeysFile.safeParse(raw);
  if (!parsed.success) throw new Error(`HTTP_KEYS_FILE ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Auth options from the environment: HTTP_KEYS_FILE, HTTP_JWT_SECRET (+ HTTP_JWT_ISSUER / HTTP_JWT_AUDIENCE). */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): AuthOptions {
  const opts: AuthOptions = {};
  if (env.HTTP_KEYS_FILE) opts.keys = loadKeysFile(env.HTTP_KEYS_FILE);
  if (env.HTTP_JWT_SECRET) {
    if (env.HTTP_JWT_SECRET.length < 32) throw new Error('HTTP_JWT_SECRET must be at least 32 characters');
    opts.jwtSecret = env.HTTP_JWT_SECRET;
  }
  if (env.HTTP_JWT_ISSUER) opts.jwtIssuer = env.HTTP_JWT_ISSUER;
  if (env.HTTP_JWT_AUDIENCE) opts.jwtAudience = env.HTTP_JWT_AUDIENCE;
  return opts;
}

export class AuthError extends Error {
  constructor(
    readonly statusCode: 401 | 403,
    message: string,
  ) {
    super(message);
  }
}

const MAX_CREDENTIAL_CHARS = 8192;

export class Authenticator {
  private readonly byHash = new Map<string, { keyId: string; identity: z.infer<typeof IdentityFields> }>();
  private readonly secret?: Uint8Array;

  constructor(private readonly opts: AuthOptions) {
    for (const k of opts.keys?.keys ?? []) this.byHash.set(k.sha256, { keyId: k.id, identity: k.identity });
    if (opts.jwtSecret) this.secret = new TextEncoder().encode(opts.jwtSecret);
    if (this.byHash.size === 0 && !this.secret) {
      throw new Error('the HTTP API needs credentials: set HTTP_KEYS_FILE (hashed bearer keys) or HTTP_JWT_SECRET (see README, "HTTP API")');
    }
  }

  /** The identity behind a bearer credential (a key or a JWT); 401 when there is none or it is not valid. */
  async verify(credential: string | undefined): Promise<Identity> {
    if (!credential) throw new AuthError(401, 'missing credentials: send "Authorization: Bearer <key or JWT>"');
    if (credential.length > MAX_CREDENTIAL_CHARS) throw new AuthError(401, 'credential too long');
    // A JWT has three dot-separated parts; bearer keys are opaque strings without dots.
    if (this.secret && credential.split('.').length === 3) return this.verifyJwt(credential);
    const hash = sha256Hex(credential);
    const found = this.byHash.get(hash);
    // The map lookup already matched; compare again in constant time so a near miss costs the same.
    if (!found || !timingSafeEqual(Buffer.from(hash), Buffer.from(sha256Hex(credential)))) throw new AuthError(401, 'unknown bearer key');
    return { ...found.identity, keyId: found.keyId };
  }

  private async verifyJwt(token: string): Promise<Identity> {
    try {
      const { payload } = await jwtVerify(token, this.secret!, {
        algorithms: ['HS256'],
        ...(this.opts.jwtIssuer ? { issuer: this.opts.jwtIssuer } : {}),
        ...(this.opts.jwtAudience ? { audience: this.opts.jwtAudience } : {}),
      });
      const identity = IdentityFields.safeParse({ id: payload.sub, groups: payload.groups ?? [], roles: payload.roles });
      if (!identity.success) throw new Error(`claims: ${identity.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return { ...identity.data, keyId: `jwt:${String(payload.iss ?? 'unknown-issuer').slice(0, 190)}` };
    } catch (err) {
      throw new AuthError(401, `invalid token: ${(err as Error).message}`);
    }
  }
}

/** Whether the identity may act in this role (admin may do everything; every role may read). */
export function hasRole(identity: Identity, role: Role): boolean {
  if (identity.roles.includes('admin') || identity.roles.includes(role)) return true;
  return role === 'viewer' && identity.roles.length > 0;
}

export function requireRole(identity: Identity, role: Role): void {
  if (!hasRole(identity, role)) throw new AuthError(403, `${identity.id} lacks the '${role}' role (has: ${identity.roles.join(', ')})`);
}
