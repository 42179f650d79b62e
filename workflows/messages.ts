/**
 * Messages a session understands, shared by the workflow and every client (TS client, CLI, HTTP).
 * Payloads are validated with zod on arrival: a malformed message changes nothing.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import type { ApprovalRecord, SessionState } from './types';

export const ApprovalDecision = z
  .object({
    approvalId: z.string().min(1),
    decision: z.enum(['approve', 'reject']),
    approver: z.string().trim().min(1, 'approver is required'),
    comment: z.string().max(4000).optional(),
  })
  .strict();
export type ApprovalDecision = z.infer<typeof ApprovalDecision>;

/** Fire-and-forget decision (signal): invalid ones are recorded in `state.rejectedMessages` and ignored. */
export const approvalSignal = defineSignal<[ApprovalDecision]>('approval');
/** Decision with an answer (Update): invalid ones are rejected by the validator, nothing is written to history. */
export const decideApprovalUpdate = defineUpdate<ApprovalRecord, [ApprovalDecision]>('decideApproval');
export const stateQuery = defineQuery<SessionState>('state');

export const TASK_QUEUE = 'agent-runtime';
