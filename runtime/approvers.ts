/**
 * The approver directory: who the approvers are, their groups and their signing keys. It comes from
 * configuration (a JSON or YAML file, an object, or a hook function), never from a request: the HTTP API,
 * agentctl and the workflow's own checks all read identities and groups from here.
 *
 *   approvers:
 *     - id: alice
 *       groups: [loan-officers]
 *       keys: [{ keyId: alice-2026, publicKey: <64 hex digits, raw Ed25519 public key> }]
 *   services:                     # keys that sign for any approver listed above (the HTTP API, the inbox)
 *     - { keyId: http-api, publicKey: <64 hex digits> }
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LIMITS } from '../workflows/limits';
import type { ApprovalAuthPolicy, ApproverKey } from '../workflows/types';

const Name = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .max(LIMITS.identityChars, `${what} is longer than ${LIMITS.identityChars} characters`)
    .refine((s) => s.trim() === s, `${what} has leading or trailing spaces`);
const KeyId = z.string().min(1).max(LIMITS.keyIdChars).regex(/^[A-Za-z0-9._:@-]+$/, 'keyId must be characters of A-Z a-z 0-9 . _ : @ -');
const PublicKey = z.string().regex(/^[0-9a-f]{64}$/, 'publicKey must be the raw Ed25519 public key as 64 lowercase hex digits');

export const ApproverDirectorySchema = z
  .object({
    approvers: z
      .array(
        z
          .object({
            id: Name('approver id'),
            groups: z.array(Name('group')).max(100).default([]),
            keys: z.array(z.object({ keyId: KeyId, publicKey: PublicKey }).strict()).max(20).default([]),
          })
          .strict(),
      )
      // The resolved policy travels in the agent's spec (an activity result in every session's history):
      // bounded so it stays far below Temporal's payload limit.
      .max(2_000, 'at most 2000 approvers per directory (the policy is part of every session history)'),
    services: z.array(z.object({ keyId: KeyId, publicKey: PublicKey, name: z.string().max(200).optional() }).strict()).max(100).default([]),
  })
  .strict()
  .superRefine((dir, ctx) => {
    const ids = new Set<string>();
    const keyIds = new Set<string>();
    for (const a of dir.approvers) {
      if (ids.has(a.id)) ctx.addIssue({ code: 'custom', message: `approver '${a.id}' is listed twice` });
      ids.add(a.id);
    }
    for (const k of [...dir.approvers.flatMap((a) => a.keys), ...dir.services]) {
      if (keyIds.has(k.keyId)) ctx.addIssue({ code: 'custom', message: `keyId '${k.keyId}' is used twice` });
      keyIds.add(k.keyId);
    }
  });
export type ApproverDirectory = z.output<typeof ApproverDirectorySchema>;
export type ApproverDirectoryInput = z.input<typeof ApproverDirectorySchema>;

/** An authenticated approver as every interface sees it (the HTTP API adds roles from its own auth). */
export interface Identity {
  id: string;
  groups: string[];
  roles?: string[];
}

/** Where a directory comes from: a file path (.json, .yaml, .yml), the object itself, or a hook called when the agent's spec is built. */
export type DirectorySource = string | ApproverDirectoryInput | (() => ApproverDirectoryInput);

export function parseApproverDirectory(raw: unknown, where = 'approver directory'): ApproverDirectory {
  const parsed = ApproverDirectorySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${where} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export function loadApproverDirectory(file: string): ApproverDirectory {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the approver directory ${abs}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(abs) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new Error(`the approver directory ${abs} is not valid ${/\.ya?ml$/i.test(abs) ? 'YAML' : 'JSON'}: ${(err as Error).message}`);
  }
  return parseApproverDirectory(raw, `the approver directory ${abs}`);
}

export function resolveDirectory(source: DirectorySource): ApproverDirectory {
  if (typeof source === 'string') return loadApproverDirectory(source);
  if (typeof source === 'function') return parseApproverDirectory(source(), 'the approver directory returned by the hook');
  return parseApproverDirectory(source);
}

/** The identity an approver has in the directory, or undefined when it is not listed. */
export function identityOf(dir: ApproverDirectory, id: string): Identity | undefined {
  const a = dir.approvers.find((x) => x.id === id);
  return a ? { id: a.id, groups: [...a.groups] } : undefined;
}

/** The serialisable policy the workflow enforces: group members and the keys that may sign. */
export function approvalAuthPolicy(dir: ApproverDirectory, opts: { requireSignature?: boolean; separationOfDuties?: boolean } = {}): ApprovalAuthPolicy {
  const members: Record<string, string[]> = {};
  for (const a of dir.approvers) for (const g of a.groups) (members[g] ??= []).push(a.id);
  const keys: ApproverKey[] = [
    ...dir.approvers.flatMap((a) => a.keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, identity: a.id }))),
    ...dir.services.map((s) => ({ keyId: s.keyId, publicKey: s.publicKey })),
  ];
  return { requireSignature: opts.requireSignature ?? false, separationOfDuties: opts.separationOfDuties ?? true, members, keys };
}
