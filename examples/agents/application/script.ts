/**
 * The scripted model's behaviour for the offline demo of the application agent. It reads the
 * conversation it is sent (tool results included) and answers as a careful model would, so the
 * demo and tests exercise the real loop: parallel data gathering, a decision, an approval.
 */
import { lastMessage, messageText, type ChatRequest, type ScriptedTurn } from 'agent-runtime/testing';

function toolResults(req: ChatRequest): Map<string, unknown> {
  const names = new Map<string, string>();
  for (const m of req.messages) for (const c of m.tool_calls ?? []) names.set(c.id, c.function.name);
  const results = new Map<string, unknown>();
  for (const m of req.messages) {
    if (m.role !== 'tool' || !m.tool_call_id) continue;
    // An approver's edit is told to the model as a first line "[Note: ...]" before the tool's own result.
    const text = messageText(m).replace(/^\[Note: [^\n]*\]\n/, '');
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      /* error texts stay strings */
    }
    results.set(names.get(m.tool_call_id) ?? '?', value);
  }
  return results;
}

/** What the scripted model "writes" for the analysis step: it runs under bubblewrap over the workspace files. */
export const ANALYSIS_SCRIPT = [
  'import json',
  "a = json.load(open('applicant.json'))",
  "c = json.load(open('credit_report.json'))",
  "monthly_income = a['annualIncome'] / 12",
  "print(json.dumps({'debtToIncome': round(a['monthlyDebt'] / monthly_income, 3),",
  "                  'loanToIncome': round(a['requestedAmount'] / a['annualIncome'], 3),",
  "                  'creditScore': c['score']}))",
].join('\n');

export function applicationScript(req: ChatRequest): ScriptedTurn {
  const task = messageText(req.messages.find((m) => m.role === 'user'));
  const applicantId = /A-\d{4}/.exec(task)?.[0] ?? 'A-1001';
  const results = toolResults(req);
  const last = lastMessage(req);

  if (results.has('send_decision')) {
    const outcome = results.get('send_decision');
    if (typeof outcome === 'string') {
      return { content: `The decision for ${applicantId} was not sent. ${outcome} No message went to the applicant.` };
    }
    return { content: `Done: the decision for ${applicantId} was approved by a human and sent to the applicant.` };
  }
  if (!results.has('get_applicant')) {
    return {
      content: `Gathering data for ${applicantId}.`,
      toolCalls: [
        { name: 'get_applicant', arguments: { applicantId } },
        { name: 'get_credit_report', arguments: { applicantId } },
        { name: 'verify_employment', arguments: { applicantId } },
      ],
    };
  }
  const app = results.get('get_applicant') as { requestedAmount?: number; annualIncome?: number; monthlyDebt?: number } | string;
  const credit = results.get('get_credit_report') as { score?: number } | string;
  const employment = results.get('verify_employment') as { verified?: boolean } | string;
  if (typeof app === 'string' || typeof credit === 'string' || typeof employment === 'string') {
    return { content: `I could not gather the data for ${applicantId}: ${String(last?.content ?? '')}` };
  }
  // The ratios are computed by a script the model writes and runs in its sandboxed workspace.
  if (!results.has('run_python')) {
    return { content: 'Computing the ratios in the sandbox.', toolCalls: [{ name: 'run_python', arguments: { code: ANALYSIS_SCRIPT } }] };
  }
  const analysis = results.get('run_python') as { exitCode?: number; stdout?: string } | string;
  let debtRatio: number;
  let note = '';
  try {
    debtRatio = (JSON.parse(typeof analysis === 'string' ? analysis : analysis.stdout ?? '') as { debtToIncome: number }).debtToIncome;
  } catch {
    // The sandbox was unavailable or the script failed: adapt, as a model would, and do the arithmetic inline.
    debtRatio = (app.monthlyDebt ?? 0) / ((app.annualIncome ?? 1) / 12);
    note = ` [analysis script unavailable (${String(typeof analysis === 'string' ? analysis : analysis.stdout).slice(0, 120)}); ratio computed inline]`;
  }
  const approve = (credit.score ?? 0) >= 650 && employment.verified === true && debtRatio < 0.4;
  const reason = approve
    ? `credit score ${credit.score}, employment verified, debt-to-income ${(debtRatio * 100).toFixed(0)}%`
    : `credit score ${credit.score}, employment ${employment.verified ? 'verified' : 'not verified'}, debt-to-income ${(debtRatio * 100).toFixed(0)}%`;
  return {
    content: `Recommendation for ${applicantId}: ${approve ? 'approve' : 'decline'} (${reason}).${note}`,
    toolCalls: [
      {
        name: 'send_decision',
        arguments: { applicantId, decision: approve ? 'approve' : 'decline', amount: approve ? app.requestedAmount ?? 0 : 0, reason },
      },
    ],
  };
}
