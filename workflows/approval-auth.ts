/**
 * Who may decide an approval, checked inside the workflow (Update validator and approval signal handler).
 *
 * A decision may carry an Ed25519 signature by a key named in the agent's approval policy. The signed
 * bytes are the UTF-8 encoding of the canonical JSON (keys sorted, no whitespace) of
 *   {approvalId, approver, argsHash, decision, domain: DECISION_DOMAIN, editedArgs?, expiresAt}
 * (README, "Signed approvals", spells the layout out for other languages). Because approvalId and argsHash
 * are signed, a signature cannot be replayed for another approval or other arguments; expiresAt is
 * compared with workflow time, so the verdict is the same on every replay.
 *
 * Pure and deterministic: no I/O, no Node built-ins, no randomness (verification needs none). The
 * verifier is @noble/curves (pure JS, audited); it is bundled into the workflow.
 */
import type { ed25519 as Ed25519 } from '@noble/curves/ed25519';
import { LIMITS } from './limits';
import type { ApprovalDecision } from './messages';
import type { ApprovalAuthPolicy, ApprovalRecord, DecisionProvenance } from './types';

/** Patch id of authenticated approvals (signature, group and separation-of-duties checks, provenance). */
export const SIGNED_APPROVALS_PATCH = 'signed-approvals-v1';
/** Names what the signature is about, so a key used elsewhere cannot be tricked into signing a decision. */
export const DECISION_DOMAIN = 'agent-runtime/approval-decision/v1';

/** The signed fields of a decision. */
export interface SignedDecisionFields {
  approvalId: string;
  argsHash: string;
  decision: 'approve' | 'reject';
  approver: string;
  editedArgs?: Record<string, unknown>;
  /** ISO 8601 instant after which the signature is refused. */
  expiresAt: string;
}

/** JSON with object keys sorted (UTF-16 code unit order, as Array.prototype.sort), no whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(obj).sort()) out[k] = sortKeys(obj[k]);
    return out;
  }
  return value;
}

/** UTF-8 bytes of a string (written out: TextEncoder is not guaranteed in every workflow sandbox). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate encodes as U+FFFD, as TextEncoder does
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** The exact bytes a decision signature covers. */
export function decisionSigningBytes(d: SignedDecisionFields): Uint8Array {
  return utf8(
    canonicalJson({
      approvalId: d.approvalId,
      approver: d.approver,
      argsHash: d.argsHash,
      decision: d.decision,
      domain: DECISION_DOMAIN,
      ...(d.editedArgs !== undefined ? { editedArgs: d.editedArgs } : {}),
      expiresAt: d.expiresAt,
    }),
  );
}

let verifier: typeof Ed25519 | undefined;
/**
 * The verifier, loaded on first use. The worker evaluates the bundle's modules once per workflow it creates
 * (each session has its own module instances), and loading @noble/curves' Ed25519 builds its tables: ~2 ms of
 * CPU and their memory for every session started or replayed, though few sessions ever see a signed decision.
 */
function ed25519(): typeof Ed25519 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  verifier ??= (require('@noble/curves/ed25519') as { ed25519: typeof Ed25519 }).ed25519;
  return verifier;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True when `signature` (128 hex digits) is the Ed25519 signature of the decision by `publicKey` (64 hex digits). */
export function verifyDecisionSignature(d: SignedDecisionFields, signature: string, publicKey: string): boolean {
  try {
    // Strict RFC 8032 verification (not ZIP-215): the same verdict as OpenSSL, libsodium and Python's cryptography.
    return ed25519().verify(hexBytes(signature), decisionSigningBytes(d), hexBytes(publicKey), { zip215: false });
  } catch {
    return false; // a malformed key or point is a refusal, never an exception in the handler
  }
}

export type Authorized = { ok: true; provenance: DecisionProvenance } | { ok: false; problem: string };

/**
 * Whether this decision may decide this approval under the policy. `channel` is how it reached the
 * workflow; `now` is workflow time (ms). Assumes the decision passed `checkApprovalDecision`.
 */
export function authorizeDecision(
  d: ApprovalDecision,
  record: ApprovalRecord,
  policy: ApprovalAuthPolicy | undefined,
  ctx: { channel: 'signal' | 'update'; now: number; sessionUserId?: string },
): Authorized {
  const approver = d.approver.trim();
  const via = d.via ?? ctx.channel;
  const base = { identity: approver, via, channel: ctx.channel } as const;
  let keyId: string | undefined;
  if (d.signature !== undefined) {
    const key = policy?.keys.find((k) => k.keyId === d.keyId);
    if (!key) return { ok: false, problem: `unknown signing key '${d.keyId}': the agent's approval policy does not list it` };
    if (d.argsHash === undefined) return { ok: false, problem: 'a signed decision must carry the argsHash it was signed over' };
    const expires = Date.parse(d.expiresAt!);
    if (!(expires > ctx.now)) return { ok: false, problem: `signature expired at ${d.expiresAt}; sign the decision again` };
    if (expires - ctx.now > LIMITS.signatureTtlMs) {
      return { ok: false, problem: `signature expires more than ${LIMITS.signatureTtlMs / 3_600_000} h ahead (${d.expiresAt}); sign with a shorter expiry` };
    }
    const fields: SignedDecisionFields = {
      approvalId: d.approvalId,
      argsHash: d.argsHash,
      decision: d.decision,
      approver: d.approver,
      ...(d.editedArgs !== undefined ? { editedArgs: d.editedArgs } : {}),
      expiresAt: d.expiresAt!,
    };
    if (!verifyDecisionSignature(fields, d.signature, key.publicKey)) {
      return { ok: false, problem: `bad signature by key '${key.keyId}': it does not cover this decision (other approval, arguments, approver or expiry) or was made with another key` };
    }
    // A personal key signs only for its owner; a service key (no identity) signs for the approvers of the directory.
    if (key.identity !== undefined && key.identity !== approver) {
      return { ok: false, problem: `key '${key.keyId}' belongs to '${key.identity}', not to approver '${approver}'` };
    }
    keyId = key.keyId;
  } else if (policy?.requireSignature) {
    return { ok: false, problem: `this agent requires signed decisions: sign with a key listed in its approval policy (agentctl approve --key, or signDecision)` };
  }
  if (policy?.members) {
    const members = policy.members[record.approverGroup] ?? [];
    if (!members.includes(approver)) {
      return { ok: false, problem: `'${approver}' is not a member of group '${record.approverGroup}', which is asked to decide approval '${record.approvalId}'` };
    }
  }
  if (policy && policy.separationOfDuties && ctx.sessionUserId !== undefined && ctx.sessionUserId === approver) {
    return { ok: false, problem: `separation of duties: '${approver}' started this session and may not decide its own request` };
  }
  return { ok: true, provenance: { ...base, verified: keyId !== undefined, ...(keyId ? { keyId } : {}) } };
}
