/**
 * The application-processing agent: gathers an applicant's data, decides, and asks a human before
 * the side-effecting `send_decision` runs.
 */
import { z } from 'zod';
import { defineAgent, defineTool, type ToolContext } from 'agent-runtime';
import { runPythonTool, writeWorkspaceFile } from 'agent-runtime/sandbox';
import fixtures from './fixtures.json';
import { openOutbox, sendDecision } from './outbox';

const ApplicantId = z.string().regex(/^A-\d{4}$/, 'applicant ids look like A-1001');

function lookup<T>(table: Record<string, T>, id: string): T {
  const row = table[id];
  if (!row) throw new Error(`no record for applicant ${id}`);
  return row;
}

/** Data tools also leave a copy in the session workspace, where sandboxed analysis scripts can read it. */
async function keepInWorkspace<T>(ctx: ToolContext, file: string, data: T): Promise<T> {
  await writeWorkspaceFile(ctx.workspaceDir, file, JSON.stringify(data, null, 2));
  return data;
}

export const getApplicant = defineTool({
  name: 'get_applicant',
  description: 'Fetch the application form of an applicant: name, requested amount, purpose, income, debt, employer. Also saved as applicant.json in the workspace.',
  input: z.object({ applicantId: ApplicantId }),
  effects: 'read',
  run: ({ applicantId }, ctx) => keepInWorkspace(ctx, 'applicant.json', { applicantId, ...lookup(fixtures.applicants, applicantId) }),
});

export const getCreditReport = defineTool({
  name: 'get_credit_report',
  description: "Fetch the applicant's credit report (score, delinquencies, open accounts). Also saved as credit_report.json in the workspace.",
  input: z.object({ applicantId: ApplicantId }),
  effects: 'read',
  run: ({ applicantId }, ctx) => keepInWorkspace(ctx, 'credit_report.json', { applicantId, ...lookup(fixtures.creditReports, applicantId) }),
});

export const verifyEmployment = defineTool({
  name: 'verify_employment',
  description: "Ask the applicant's employer to confirm employment.",
  input: z.object({ applicantId: ApplicantId }),
  effects: 'read',
  run: ({ applicantId }) => ({ applicantId, ...lookup(fixtures.employment, applicantId) }),
});

let outbox: ReturnType<typeof openOutbox> | undefined;

export const sendDecisionTool = defineTool({
  name: 'send_decision',
  description: 'Send the final decision to the applicant. Irreversible: requires a human approval.',
  input: z.object({
    applicantId: ApplicantId,
    decision: z.enum(['approve', 'decline']),
    amount: z.number().nonnegative(),
    reason: z.string().min(1).max(1000),
  }),
  approval: 'always',
  effects: 'write',
  run: (args, ctx) => {
    outbox ??= openOutbox();
    const sent = sendDecision(outbox, { ...args, idempotencyKey: ctx.idempotencyKey, sessionId: ctx.sessionId, sentAt: new Date().toISOString() });
    ctx.logger.info('decision sent', { applicantId: args.applicantId, decision: args.decision, duplicate: !sent });
    return { sent: true, applicantId: args.applicantId, decision: args.decision, deliveredBefore: !sent };
  },
});

export const applicationAgent = defineAgent({
  name: 'application-processor',
  instructions:
    'You process loan applications. Gather the application, the credit report and the employment check, ' +
    'compute the ratios with a short Python script over applicant.json and credit_report.json in your workspace (run_python), ' +
    'decide (approve when the credit score is at least 650, employment is verified and monthly debt is under ' +
    '40% of monthly income; decline otherwise), then call send_decision with a short reason. ' +
    'If a human rejects the decision, do not resend it; summarise what happened.',
  tools: [getApplicant, getCreditReport, verifyEmployment, runPythonTool({ limits: { timeoutMs: 20_000 } }), sendDecisionTool],
  budget: { maxSteps: 20 },
});
