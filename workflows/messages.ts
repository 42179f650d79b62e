/**
 * Messages a session understands, shared by the workflow and every client (TS client, CLI, HTTP).
 * Payloads are validated with zod on arrival: a malformed message changes nothing.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { ApprovalRecord, ChatReply, SessionState } from './types';

/** The fields of a decision; `ApprovalDecision` adds the cross-field rule. */
export const ApprovalDecisionFields = z
  .object({
    approvalId: z.string().min(1),
    decision: z.enum(['approve', 'reject']),
    approver: z.string().trim().min(1, 'approver is required'),
    comment: z.string().max(4000).optional(),
    /** The hash the approver was shown; a decision about other arguments is refused. */
    argsHash: z.string().regex(/^[0-9a-f]{64}$/, 'argsHash must be the 64-hex-digit hash shown with the request').optional(),
    /** Approve with changed arguments (checked again against the tool's schema). */
    editedArgs: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export const editsOnlyWithApprove = (d: { decision: string; editedArgs?: unknown }): boolean => d.decision === 'approve' || d.editedArgs === undefined;
export const ApprovalDecision = ApprovalDecisionFields.refine(editsOnlyWithApprove, { message: 'editedArgs only go with approve', path: ['editedArgs'] });
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

export const ChatMessage = z.object({ text: z.string().trim().min(1, 'message text is empty').max(100_000) }).strict();
export type ChatMessage = z.infer<typeof ChatMessage>;

export const BudgetTopUp = z
  .object({
    approver: z.string().trim().min(1, 'approver is required'),
    addSteps: z.number().int().positive().optional(),
    addTokens: z.number().int().positive().optional(),
    addCostUsd: z.number().positive().optional(),
    comment: z.string().max(4000).optional(),
  })
  .strict()
  .refine((t) => t.addSteps || t.addTokens || t.addCostUsd, { message: 'a top-up adds steps, tokens or cost' });
export type BudgetTopUp = z.infer<typeof BudgetTopUp>;

export const EndRequest = z.object({ reason: z.string().max(1000).optional(), by: z.string().optional() }).strict();
export type EndRequest = z.infer<typeof EndRequest>;

/** Fire-and-forget decision (signal): invalid ones are recorded in `state.rejectedMessages` and ignored. */
export const approvalSignal = defineSignal<[ApprovalDecision]>('approval');
/** Decision with an answer (Update): invalid ones are rejected by the validator, nothing is written to history. */
export const decideApprovalUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('decideApproval');
/** Chat mode: returns when the turn ends (the reply), or stops on an approval or the budget. */
export const sendMessageUpdate = defineUpdate<ChatReply, [ChatMessage]>('sendMessage');
/** Raises the budget of a session (paused as `budget_exhausted` or not); returns the new limits. */
export const topUpBudgetUpdate = defineUpdate<SessionState['budget'], [BudgetTopUp]>('topUpBudget');
/** Ends the session after the current step (chat sessions, or a session paused on its budget). */
export const endSignal = defineSignal<[EndRequest]>('end');
export const stateQuery = defineQuery<SessionState>('state');

export const TASK_QUEUE = 'agent-runtime';
