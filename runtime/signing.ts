/**
 * Signing approval decisions (services, agentctl, the HTTP API). The bytes signed are defined once, in
 * workflows/approval-auth.ts, which the workflow uses to verify; here Node's own Ed25519 signs them.
 * Keys: a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`, or `agentctl keygen`); the public
 * key goes into the approver directory as 64 hex digits.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decisionSigningBytes } from '../workflows/approval-auth';
import type { ApprovalDecision } from '../workflows/messages';

export { canonicalJson, decisionSigningBytes, DECISION_DOMAIN } from '../workflows/approval-auth';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/** Default lifetime of a signature: long enough to reach the session, short enough that a leaked one is soon useless. */
export const DEFAULT_SIGNATURE_TTL_MS = 5 * 60_000;

/** The raw public key (64 hex digits) of an Ed25519 key, as the approver directory lists it. */
export function publicKeyHex(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('hex');
}

export function loadSigningKey(file: string, keyId: string): SigningKey {
  const abs = path.resolve(file);
  let pem: string;
  try {
    pem = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the signing key ${abs}: ${(err as Error).message}`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${abs} is not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${abs} is a ${privateKey.asymmetricKeyType} key; decisions are signed with Ed25519`);
  return { keyId, privateKey };
}

export function generateSigningKey(): { privateKeyPem: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: publicKeyHex(privateKey) };
}

export type UnsignedDecision = Omit<ApprovalDecision, 'keyId' | 'signature' | 'expiresAt' | 'argsHash'> & { argsHash: string };

/**
 * Signs a decision: returns it with keyId, signature and expiresAt added, ready for the approval signal,
 * the decideApproval Update or the HTTP API. `argsHash` is the one shown with the pending approval.
 */
export function signDecision(decision: UnsignedDecision, key: SigningKey, opts: { ttlMs?: number; now?: Date } = {}): ApprovalDecision {
  const expiresAt = new Date((opts.now ?? new Date()).getTime() + (opts.ttlMs ?? DEFAULT_SIGNATURE_TTL_MS)).toISOString();
  const bytes = decisionSigningBytes({
    approvalId: decision.approvalId,
    argsHash: decision.argsHash,
    decision: decision.decision,
    approver: decision.approver,
    ...(decision.editedArgs !== undefined ? { editedArgs: decision.editedArgs } : {}),
    expiresAt,
  });
  const signature = sign(null, bytes, key.privateKey).toString('hex');
  return { ...decision, keyId: key.keyId, signature, expiresAt };
}
