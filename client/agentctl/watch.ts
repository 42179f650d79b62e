/**
 * `agentctl watch`: a live progress line (spinner on a terminal, one line per change otherwise) until the
 * session completes, pauses or fails. Polls the state query: this branch has no event stream.
 */
import type { Client } from '@temporalio/client';
import { sessionState } from '../sessions';
import type { SessionState } from '../../workflows/types';
import { EXIT } from './errors';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const POLL_MS = 400;

function line(st: SessionState): string {
  const base = `${st.status}: ${st.steps} steps, ${st.usage.totalTokens} tokens, $${st.costUsd.toFixed(4)}`;
  const last = st.transcript[st.transcript.length - 1];
  const doing = last?.role === 'tool' ? ` | last tool ${last.tool}` : last?.role === 'assistant' && last.toolCalls?.length ? ` | calling ${last.toolCalls.map((c) => c.name).join(', ')}` : '';
  return base + doing;
}

/** Resolves with the exit code: 0 completed, EXIT.paused when waiting on a human, EXIT.sessionFailed when failed or cancelled. */
export async function watchSession(client: Client, sessionId: string, opts: { json: boolean }): Promise<number> {
  const tty = process.stderr.isTTY && !opts.json;
  let frame = 0;
  let shown = '';
  for (;;) {
    let st: SessionState;
    try {
      st = await sessionState(client, sessionId);
    } catch (err) {
      // The first workflow task may not have run yet; a session that does not exist is an error.
      if (/not found/i.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    const text = line(st);
    if (tty) process.stderr.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${sessionId} ${text}`);
    else if (text !== shown && !opts.json) process.stderr.write(`${sessionId} ${text}\n`);
    shown = text;
    const done = st.status === 'completed' || st.status === 'failed' || st.status === 'cancelled';
    const paused = st.status === 'awaiting_approval' || st.status === 'awaiting_input' || st.status === 'budget_exhausted';
    if (done || paused) {
      if (tty) process.stderr.write('\n');
      const summary = {
        sessionId,
        status: st.status,
        steps: st.steps,
        totalTokens: st.usage.totalTokens,
        costUsd: st.costUsd,
        ...(st.finalAnswer !== undefined ? { finalAnswer: st.finalAnswer } : {}),
        ...(st.error ? { error: st.error } : {}),
        pendingApprovals: st.pendingApprovals.map((a) => ({ approvalId: a.approvalId, tool: a.tool, approverGroup: a.approverGroup, argsHash: a.argsHash })),
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (st.status === 'completed') process.stdout.write(`completed: ${st.finalAnswer ?? ''}\n`);
      else if (st.status === 'awaiting_approval') {
        process.stdout.write(
          st.pendingApprovals.map((a) => `paused: ${a.tool} waits for approval ${a.approvalId} (group ${a.approverGroup})\n  agentctl approve ${sessionId} --approval-id ${a.approvalId}\n`).join(''),
        );
      } else process.stdout.write(`${st.status}${st.error ? `: ${st.error}` : st.budgetExhausted ? `: ${st.budgetExhausted}` : ''}\n`);
      return st.status === 'completed' ? EXIT.ok : paused ? EXIT.paused : EXIT.sessionFailed;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
