/**
 * The Temporal Web UI's "current details" of a session waiting for approval: what waits (approval id,
 * tool, the key arguments, group, deadline) and the exact commands that decide it. Markdown (the Web UI
 * renders it). Pure string building, deterministic.
 */
import type { ApprovalRecord } from './types';

const ARG_CHARS = 80;
const MAX_ARGS = 6;

/** The first few arguments as `name=value`, each value cut short (a Web UI panel, not a dump). */
export function keyArguments(args: unknown): string {
  if (!args || typeof args !== 'object' || Array.isArray(args)) return truncate(JSON.stringify(args) ?? String(args));
  const entries = Object.entries(args as Record<string, unknown>);
  const shown = entries.slice(0, MAX_ARGS).map(([k, v]) => `${k}=${truncate(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v))}`);
  return shown.join(', ') + (entries.length > MAX_ARGS ? `, … (${entries.length - MAX_ARGS} more)` : '');
}

function truncate(s: string): string {
  return s.length > ARG_CHARS ? `${s.slice(0, ARG_CHARS)}…` : s;
}

/** Single-quoted for a POSIX shell (ids are restricted, but a quote must never break the command). */
function shellQuote(s: string): string {
  return /^[A-Za-z0-9._\/:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function approvalDetails(sessionId: string, open: ApprovalRecord[], signed: boolean): string {
  const lines = [`**Waiting for approval** (${open.length})`];
  for (const a of open) {
    const input = `{"approvalId":"${a.approvalId}","decision":"approve","approver":"'"$(id -un)"'","argsHash":"${a.argsHash}"}`;
    lines.push(
      '',
      `- approval id: \`${a.approvalId}\``,
      ...(a.sessionId ? [`- asked by sub-agent session \`${a.sessionId}\` (decided here, it is forwarded there)`] : []),
      `- tool: \`${a.tool}\` (${keyArguments(a.args)})`,
      `- asked: group \`${a.approverGroup}\` until ${a.deadline}`,
      `- reason: ${a.reason}`,
      `- decide with agentctl (signs with your key when one is configured):`,
      '',
      `  \`agentctl approve ${shellQuote(sessionId)} --approval-id ${shellQuote(a.approvalId)}\``,
      '',
      `  or reject: \`agentctl reject ${shellQuote(sessionId)} --approval-id ${shellQuote(a.approvalId)} --comment "why"\``,
      ...(signed
        ? ['', `- this agent requires signed decisions: use agentctl with a key (--key or AGENTCTL_KEY), or a service calling signDecision`]
        : ['', `- or with the Temporal CLI:`, '', `  \`temporal workflow update execute --workflow-id ${shellQuote(sessionId)} --name decideApproval --input '${input}'\``]),
    );
  }
  return lines.join('\n');
}
