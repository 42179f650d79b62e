/**
 * zod schemas of the session messages, for the edges (TS client, HTTP, CLI). The workflow checks the
 * same rules with hand-written code (`workflows/validate.ts`, no zod in the workflow bundle);
 * `test/validate.test.ts` holds the two to the same verdicts.
 */
import { z } from 'zod';
import { LIMITS } from '../workflows/limits';
import { DECISION_VIA, EVENT_NAME, EVENT_PAYLOAD_LIMITS, jsonShapeProblem, signingFieldsProblem } from '../workflows/validate';
import type { ApprovalDecision as ApprovalDecisionType, BudgetTopUp as BudgetTopUpType, ChatMessage as ChatMessageType, EndRequest as EndRequestType, ExternalEvent as ExternalEventType } from '../workflows/messages';

const identity = (field: string) =>
  z
    .string({ error: `${field} is required` })
    .refine((s) => s.trim().length > 0, `${field} is required`)
    .refine((s) => s.length <= LIMITS.identityChars, `${field} is longer than ${LIMITS.identityChars} characters`);

/** Tool arguments an approver edits: an object within the depth, size and node bounds. */
export const EditedArgs = z.record(z.string(), z.unknown()).superRefine((v, ctx) => {
  const problem = jsonShapeProblem(v, 'editedArgs');
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The fields of a decision; `ApprovalDecision` adds the cross-field rule. */
export const ApprovalDecisionFields = z
  .object({
    approvalId: z.string().min(1, 'approvalId is required').max(LIMITS.approvalIdChars),
    decision: z.enum(['approve', 'reject']),
    approver: identity('approver'),
    comment: z.string().max(LIMITS.commentChars).optional(),
    argsHash: z.string().regex(/^[0-9a-f]{64}$/, 'argsHash must be the 64-hex-digit hash shown with the request').optional(),
    editedArgs: EditedArgs.optional(),
    scope: z.enum(['call', 'session'], { error: "scope must be 'call' or 'session'" }).optional(),
    keyId: z.string().min(1).max(LIMITS.keyIdChars).regex(/^[A-Za-z0-9._:@-]+$/, 'keyId must be characters of A-Z a-z 0-9 . _ : @ -').optional(),
    signature: z.string().regex(/^[0-9a-f]{128}$/, 'signature must be 128 lowercase hex digits (an Ed25519 signature)').optional(),
    expiresAt: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/, 'expiresAt must be an ISO 8601 UTC instant')
      .refine((s) => !Number.isNaN(Date.parse(s)), 'expiresAt must be an ISO 8601 UTC instant')
      .optional(),
    via: z.enum(DECISION_VIA).optional(),
  })
  .strict();
export const editsOnlyWithApprove = (d: { decision: string; editedArgs?: unknown }): boolean => d.decision === 'approve' || d.editedArgs === undefined;
export const sessionScopeOnlyWithApprove = (d: { decision: string; scope?: string }): boolean => d.decision === 'approve' || d.scope !== 'session';
export const ApprovalDecision: z.ZodType<ApprovalDecisionType> = ApprovalDecisionFields.refine(editsOnlyWithApprove, {
  message: 'editedArgs only go with approve',
  path: ['editedArgs'],
}).refine(sessionScopeOnlyWithApprove, { message: "scope 'session' only goes with approve", path: ['scope'] }).superRefine((d, ctx) => {
  // The all-or-none rule of the signing fields, shared with the workflow's check.
  const problem = signingFieldsProblem(d as unknown as Record<string, unknown>);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['signature'] });
});

export const ChatMessage: z.ZodType<ChatMessageType> = z
  .object({
    text: z
      .string()
      .refine((s) => s.trim().length > 0, 'message text is empty')
      .refine((s) => s.length <= LIMITS.chatMessageChars, `message text is longer than ${LIMITS.chatMessageChars} characters`),
  })
  .strict();
export const ChatMessageFields = z.object({ text: z.string().refine((s) => s.trim().length > 0, 'message text is empty').max(LIMITS.chatMessageChars) });

const positive = (max: number, integer: boolean) => (integer ? z.number().int().positive().max(max) : z.number().positive().max(max)).optional();
export const BudgetTopUp: z.ZodType<BudgetTopUpType> = z
  .object({
    approver: identity('approver'),
    addSteps: positive(LIMITS.topUpSteps, true),
    addTokens: positive(LIMITS.topUpTokens, true),
    addCostUsd: positive(LIMITS.topUpCostUsd, false),
    comment: z.string().max(LIMITS.commentChars).optional(),
  })
  .strict()
  .refine((t) => t.addSteps !== undefined || t.addTokens !== undefined || t.addCostUsd !== undefined, { message: 'a top-up adds steps, tokens or cost' });

/** An end request may come with no payload at all (`temporal workflow signal --name end`). */
export const EndRequest: z.ZodType<EndRequestType> = z.preprocess(
  (v) => v ?? {},
  z.object({ reason: z.string().max(LIMITS.endReasonChars).optional(), by: z.string().max(LIMITS.identityChars).optional() }).strict(),
) as unknown as z.ZodType<EndRequestType>;

/** An external event for `wait_for_event` (`sendEvent`, `agentctl event`). */
export const ExternalEvent: z.ZodType<ExternalEventType> = z
  .object({
    name: z
      .string({ error: 'name is required (e.g. payment_received)' })
      .min(1, 'name is required (e.g. payment_received)')
      .max(LIMITS.eventNameChars)
      .regex(EVENT_NAME, 'name must be lowercase a-z 0-9 _ . - starting with a letter or digit (e.g. payment_received)'),
    payload: z
      .unknown()
      .superRefine((v, ctx) => {
        const problem = jsonShapeProblem(v, 'payload', EVENT_PAYLOAD_LIMITS);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    id: z.string().min(1, 'id must be a non-empty string').max(LIMITS.eventIdChars).optional(),
  })
  .strict() as unknown as z.ZodType<ExternalEventType>;
