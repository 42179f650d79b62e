/**
 * Records real session histories (on a throwaway dev server) into test/replay/histories/. The replay
 * test runs today's workflow code over them: a change that would break running sessions fails CI
 * unless it is guarded with patched() or ships as a new workflow type.
 *   npx tsx scripts/record-histories.ts     (re-record only when adding scenarios, never to "fix" a replay failure)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { applicationScript } from '../agents/application/script';
import { decideApproval, endSession, sendMessage, signalApproval, startSession, topUpBudget, waitForState } from '../client/sessions';
import { createHarness } from '../test/support/harness';
import { writeWorkflowBundle } from '../test/support/paths';

async function run(): Promise<void> {
  await writeWorkflowBundle();
  const h = await createHarness();
  await h.startWorker();
  const out = path.join(__dirname, '..', 'test', 'replay', 'histories');
  const save = async (name: string, sessionId: string, runId?: string): Promise<void> => {
    const history = await h.client.workflow.getHandle(sessionId, runId).fetchHistory();
    const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), { longs: String, enums: String, bytes: String });
    // The workflow id is part of what the code sees (approval ids derive from it): keep it with the history.
    writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ workflowId: sessionId, history: json }));
    console.log(`recorded ${name} (${history.events?.length} events)`);
  };
  try {
    h.model.setScript(applicationScript);
    for (const [name, decision] of [['application-approved', 'approve'], ['application-rejected', 'reject']] as const) {
      const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.', userId: 'u1' }, h.config);
      const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
      await signalApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision, approver: 'rec', comment: 'recorded' });
      await s.handle.result();
      await save(name, s.sessionId);
    }

    h.model.setScript((req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'sent' }
        : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'hello' } }] },
    );
    const edited = await startSession(h.client, { agent: 'notifier', task: 'notify' }, h.config);
    const est = await waitForState(h.client, edited.sessionId, (x) => x.status === 'awaiting_approval');
    await decideApproval(h.client, edited.sessionId, { approvalId: est.pendingApprovals[0].approvalId, decision: 'approve', approver: 'rec', editedArgs: { recipient: 'vip-ann', text: 'hi' } });
    await edited.handle.result();
    await save('approval-edited-update', edited.sessionId);

    const escalated = await startSession(h.client, { agent: 'escalating-notifier', task: 'notify' }, h.config);
    await escalated.handle.result();
    await save('approval-escalated-expired', escalated.sessionId);

    h.model.setScript((req) => ({ content: `echo ${req.messages.filter((m) => m.role === 'user').length}` }));
    const chatId = `chat-recorded-${Date.now()}`;
    await sendMessage(h.client, chatId, 'one', { agent: 'calculator', userId: 'u2' }, h.config);
    await sendMessage(h.client, chatId, 'two', { agent: 'calculator' }, h.config);
    await endSession(h.client, chatId, { by: 'rec' });
    await h.client.workflow.getHandle(chatId).result();
    await save('chat-two-turns-ended', chatId);

    h.model.setScript((req) => {
      const n = req.messages.filter((m) => m.role === 'tool').length;
      return n < 3 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: 'done' };
    });
    const budget = await startSession(h.client, { agent: 'budgeted', task: 'add' }, h.config);
    await waitForState(h.client, budget.sessionId, (x) => x.status === 'budget_exhausted');
    await topUpBudget(h.client, budget.sessionId, { approver: 'rec', addSteps: 5 });
    await budget.handle.result();
    await save('budget-topped-up', budget.sessionId);

    const long = await startSession(h.client, { agent: 'long-runner', task: 'count' }, h.config);
    await h.client.workflow.getHandle(long.sessionId).result();
    await save('continued-as-new-first-run', long.sessionId, long.handle.firstExecutionRunId);
  } finally {
    await h.close();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
