/**
 * Records real session histories (on a throwaway dev server) into test/replay/histories/. The replay
 * test runs today's workflow code over them: a change that would break running sessions fails CI
 * unless it is guarded with patched() or ships as a new workflow type.
 *   npx tsx scripts/record-histories.ts     (re-record only when adding scenarios, never to "fix" a replay failure)
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { applicationScript } from '../examples/agents/application/script';
import type { ChatRequest, ScriptedTurn } from '../runtime/scripted-model';
import { FOLLOW_UP_QUESTION, RESEARCH_QUESTION, researchScript } from '../examples/agents/research/script';
import { COMPACTION_INSTRUCTIONS, SESSION_SUMMARY_INSTRUCTIONS } from '../runtime/memory-prompts';
import { openSessionStore } from '../runtime/store';
import { agentSession } from '../workflows/agentSession';
import type { SessionInput, TranscriptEntry } from '../workflows/types';
import { recordedV1Carry, storedRows } from '../test/support/recorded-carry';
import { decideApproval, endSession, forkSession, resumeSession, sendEvent, sendMessage, signalApproval, startSession, topUpBudget, waitForState } from '../client/sessions';
import { deleteAgentSchedule, scheduleAgent, triggerAgentSchedule } from '../client/schedules';
import { createHarness } from '../test/support/harness';
import { loadSigningKey, signDecision } from '../runtime/signing';
import { writeWorkflowBundle } from '../test/support/paths';

async function run(): Promise<void> {
  await writeWorkflowBundle();
  const h = await createHarness();
  await h.startWorker();
  const out = path.join(__dirname, '..', 'test', 'replay', 'histories');
  // Existing recordings stay as they are (they stand for sessions started by older code); --force re-records.
  // --prefix=P records every scenario again under P<name> (a new step shape next to the old recordings).
  const prefix = process.argv.find((a) => a.startsWith('--prefix='))?.slice('--prefix='.length) ?? '';
  const wanted = (name: string): boolean => process.argv.includes('--force') || !existsSync(path.join(out, `${prefix}${name}.json`));
  const save = async (unprefixed: string, sessionId: string, runId?: string): Promise<void> => {
    const name = `${prefix}${unprefixed}`;
    const history = await h.client.workflow.getHandle(sessionId, runId).fetchHistory();
    const json = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), { longs: String, enums: String, bytes: String });
    // The workflow id is part of what the code sees (approval ids derive from it): keep it with the history.
    writeFileSync(path.join(out, `${name}.json`), JSON.stringify({ workflowId: sessionId, history: json }));
    console.log(`recorded ${name} (${history.events?.length} events)`);
  };
  try {
    if (wanted('application-approved')) {
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
    }

    if (wanted('continued-as-new-first-run')) {
      const long = await startSession(h.client, { agent: 'long-runner', task: 'count' }, h.config);
      await h.client.workflow.getHandle(long.sessionId).result();
      await save('continued-as-new-first-run', long.sessionId, long.handle.firstExecutionRunId);
    }

    // Memory: recall at start, summary at the end (research agent, two sessions of one user).
    h.model.setScript(researchScript);
    if (wanted('research-first-session') || wanted('research-follow-up-from-memory')) {
      const one = await startSession(h.client, { agent: 'research-assistant', task: RESEARCH_QUESTION, userId: 'rec-user' }, h.config);
      await one.handle.result();
      await save('research-first-session', one.sessionId);
      const two = await startSession(h.client, { agent: 'research-assistant', task: FOLLOW_UP_QUESTION, userId: 'rec-user' }, h.config);
      await two.handle.result();
      await save('research-follow-up-from-memory', two.sessionId);
    }

    // Compaction: a long count with a small context budget.
    if (wanted('model-retried-then-parallel-tools')) {
      // A model call that fails in the worker moves to a regular activity; then three tools in parallel.
      h.model.setScript([
        { error: { status: 500, message: 'upstream exploded' } },
        { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }, { name: 'add', arguments: { a: 2, b: 2 } }, { name: 'lookup_fact', arguments: { topic: 'explode' } }] },
        { content: 'done' },
      ]);
      const r = await startSession(h.client, { agent: 'calculator', task: 'retry then parallel' }, h.config);
      await r.handle.result();
      await save('model-retried-then-parallel-tools', r.sessionId);
    }
    if (wanted('malformed-signals-then-approved')) {
      h.model.setScript(applicationScript);
      const m = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1003.' }, h.config);
      const st = await waitForState(h.client, m.sessionId, (x) => x.status === 'awaiting_approval');
      const handle = h.client.workflow.getHandle(m.sessionId);
      await handle.signal('approval', { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'x'.repeat(5000) });
      await handle.signal('approval', { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'eve', editedArgs: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) });
      await signalApproval(h.client, m.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'rec' });
      await m.handle.result();
      await save('malformed-signals-then-approved', m.sessionId);
    }
    if (wanted('signed-approval-refused-then-approved')) {
      // Signed approvals: a wrongly signed signal and a refused Update change nothing; a signed decision
      // by a group member approves (agent signed-notifier, test approver directory and keys).
      h.model.setScript((req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'sent' }
          : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-rec', text: 'hello' } }] },
      );
      const keys = path.join(__dirname, '..', 'test', 'fixtures', 'approvers');
      const alice = loadSigningKey(path.join(keys, 'alice.pem'), 'alice-key');
      const s = await startSession(h.client, { agent: 'signed-notifier', task: 'notify', userId: 'carol' }, h.config);
      const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
      const base = { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve' as const, approver: 'alice', argsHash: st.pendingApprovals[0].argsHash };
      await signalApproval(h.client, s.sessionId, signDecision(base, loadSigningKey(path.join(keys, 'mallory.pem'), 'alice-key')));
      await decideApproval(h.client, s.sessionId, base).catch(() => undefined); // refused: unsigned
      await waitForState(h.client, s.sessionId, (x) => x.rejectedMessages.length > 0);
      await signalApproval(h.client, s.sessionId, { ...signDecision(base, alice), via: 'service' });
      await s.handle.result();
      await save('signed-approval-refused-then-approved', s.sessionId);

      const g = await startSession(h.client, { agent: 'group-notifier', task: 'notify', userId: 'dan' }, h.config);
      const gst = await waitForState(h.client, g.sessionId, (x) => x.pendingApprovals[0]?.approverGroup === 'managers', { timeoutMs: 15_000 });
      await decideApproval(h.client, g.sessionId, { approvalId: gst.pendingApprovals[0].approvalId, decision: 'reject', approver: 'bob', via: 'cli' });
      await g.handle.result();
      await save('group-approval-escalated-decided', g.sessionId);
    }
    if (wanted('compaction-long-count')) {
      h.model.setScript((req) => {
        const system = req.messages.find((m) => m.role === 'system')?.content;
        if (typeof system === 'string' && system.startsWith(COMPACTION_INSTRUCTIONS)) return { content: 'summary of the count so far' };
        if (typeof system === 'string' && system.startsWith(SESSION_SUMMARY_INSTRUCTIONS)) return { content: '{"episode":"counted","facts":[]}' };
        // Count from the last assistant message: compaction removes older ones from the context.
        const last = [...req.messages].reverse().find((m) => m.role === 'assistant')?.content;
        const step = Number(/^step (\d+)/.exec(typeof last === 'string' ? last : '')?.[1] ?? 0) + 1;
        return step <= 60 ? { content: `step ${step} ${'padding '.repeat(20)}`, toolCalls: [{ name: 'add', arguments: { a: step, b: 1 } }] } : { content: 'done' };
      });
      const c = await startSession(h.client, { agent: 'memory-calculator', task: 'count for a long time' }, h.config);
      await c.handle.result();
      await save('compaction-long-count', c.sessionId);
    }
    if (wanted('edited-args-told')) {
      // An approver edits the arguments; the model is told (patch edited-args-told-v1).
      h.model.setScript((req) =>
        req.messages.some((m) => m.role === 'tool') ? { content: 'sent' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'hello' } }] },
      );
      const e = await startSession(h.client, { agent: 'notifier', task: 'notify' }, h.config);
      const st = await waitForState(h.client, e.sessionId, (x) => x.status === 'awaiting_approval');
      await decideApproval(h.client, e.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'rec', editedArgs: { recipient: 'vip-ann', text: 'hi' } });
      await e.handle.result();
      await save('edited-args-told', e.sessionId);
    }
    if (wanted('session-grant-first-run') || wanted('session-grant-last-run')) {
      // Approve for the session, then calls of the same tool in this run and the next (patch session-grants-v1).
      h.model.setScript((req) => {
        const n = req.messages.filter((m) => m.role === 'tool').length;
        return n < 3 ? { toolCalls: [{ name: 'send_notice', arguments: { recipient: `r${n}`, text: `notice ${n}` } }] } : { content: `sent ${n}` };
      });
      const g = await startSession(h.client, { agent: 'strict-notifier', task: 'send three notices' }, h.config);
      const st = await waitForState(h.client, g.sessionId, (x) => x.status === 'awaiting_approval');
      await decideApproval(h.client, g.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'rec', scope: 'session' });
      const last = h.client.workflow.getHandle(g.sessionId);
      await last.result();
      await save('session-grant-first-run', g.sessionId, g.handle.firstExecutionRunId);
      await save('session-grant-last-run', g.sessionId, (await last.describe()).runId);
    }
    if (wanted('fork-at-tool-result') || wanted('fork-of-fork-with-task') || wanted('fork-waiting-approval-approved') || wanted('resume-after-401')) {
      // Forks and resume (patch fork-v1): a fork after a tool result, a fork of that fork with a new task,
      // a fork of a step waiting on an approval (its own copy approved), and a resume after a 401.
      let revoked = false;
      h.model.setScript((req) => {
        const users = req.messages.filter((m) => m.role === 'user');
        const plan = String(users.at(-1)?.content ?? '').replace(/^notify /, '').split(' then ');
        const done = req.messages.slice(req.messages.lastIndexOf(users.at(-1)!)).filter((m) => m.role === 'tool').length;
        if (revoked && done > 0) return { error: { status: 401, message: 'Incorrect API key provided' } };
        if (req.messages.at(-1)?.role === 'tool' && done >= plan.length) return { content: `done ${plan.at(-1)}` };
        return { toolCalls: [{ name: 'send_notice', arguments: { recipient: plan[done], text: `hello ${plan[done]}` } }] };
      });
      const parent = await startSession(h.client, { agent: 'notifier', task: 'notify bob then carl' }, h.config);
      await parent.handle.result();
      const fork = await forkSession(h.client, parent.sessionId, { atSeq: 3 }, h.config);
      await fork.handle.result();
      await save('fork-at-tool-result', fork.sessionId);
      const fork2 = await forkSession(h.client, fork.sessionId, { atSeq: 5, task: 'notify dan' }, h.config);
      await fork2.handle.result();
      await save('fork-of-fork-with-task', fork2.sessionId);

      const waiting = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann' }, h.config);
      await waitForState(h.client, waiting.sessionId, (x) => x.status === 'awaiting_approval');
      const copy = await forkSession(h.client, waiting.sessionId, { atSeq: 2 }, h.config);
      const cst = await waitForState(h.client, copy.sessionId, (x) => x.status === 'awaiting_approval');
      await decideApproval(h.client, copy.sessionId, { approvalId: cst.pendingApprovals[0].approvalId, decision: 'approve', approver: 'rec' });
      await copy.handle.result();
      await save('fork-waiting-approval-approved', copy.sessionId);
      await endSession(h.client, waiting.sessionId, { by: 'rec' });

      revoked = true;
      const failing = await startSession(h.client, { agent: 'notifier', task: 'notify bob then carl' }, h.config);
      await failing.handle.result().catch(() => undefined);
      revoked = false;
      const resumed = await resumeSession(h.client, failing.sessionId, h.config);
      await resumed.handle.result();
      await save('resume-after-401', resumed.sessionId);
    }
    if (wanted('carry-v1-continued')) {
      // A run started from the carry a v1 run handed on (no carryVersion): migrated, then finished.
      const { input } = recordedV1Carry();
      const id = `carry-v1-recorded-${Date.now()}`;
      const store = openSessionStore(h.env.AGENT_STORE_URL);
      await store.append(id, storedRows((input.carry.state as { transcript: TranscriptEntry[] }).transcript));
      await store.close();
      h.model.setScript((req) => {
        const n = req.messages.filter((m) => m.role === 'tool').length;
        return n < 4 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `counted to ${n}` };
      });
      const c = await h.client.workflow.start(agentSession, { taskQueue: h.config.TASK_QUEUE, workflowId: id, args: [input as unknown as SessionInput] });
      await c.result();
      await save('carry-v1-continued', id);
    }
    // Built-in waits (patch waits-v1): a timer, an event that arrives, an event wait that times out.
    if (wanted('wait-timer')) {
      h.model.setScript((req) =>
        req.messages.some((m) => m.role === 'tool') ? { content: 'checked again' } : { toolCalls: [{ name: 'wait', arguments: { seconds: 1, reason: 'check again later' } }] },
      );
      const w = await startSession(h.client, { agent: 'collector', task: 'check later' }, h.config);
      await w.handle.result();
      await save('wait-timer', w.sessionId);
    }
    if (wanted('wait-for-event-received') || wanted('wait-for-event-timed-out')) {
      const waitFor = (timeoutSeconds: number) =>
        h.model.setScript((req) =>
          req.messages.some((m) => m.role === 'tool')
            ? { content: 'done' }
            : { toolCalls: [{ name: 'wait_for_event', arguments: { event: 'payment_received', timeoutSeconds } }] },
        );
      waitFor(600);
      const e = await startSession(h.client, { agent: 'collector', task: 'collect' }, h.config);
      await waitForState(h.client, e.sessionId, (x) => (x.waiting?.length ?? 0) > 0);
      await sendEvent(h.client, e.sessionId, 'refund_sent', { amount: 1 }); // refused: not listed
      await sendEvent(h.client, e.sessionId, 'payment_received', { amount: 42 }, { id: 'pay-rec' });
      await e.handle.result();
      await save('wait-for-event-received', e.sessionId);
      waitFor(1);
      const t = await startSession(h.client, { agent: 'collector', task: 'collect' }, h.config);
      await t.handle.result();
      await save('wait-for-event-timed-out', t.sessionId);
    }
    // A session started by a schedule (scheduleAgent, triggered): its start event has the schedule's attributes.
    if (wanted('scheduled-run')) {
      h.model.setScript([{ content: 'daily report: all good' }]);
      const scheduleId = `rec-schedule-${Date.now().toString(36)}`;
      const sched = await scheduleAgent(h.client, { agent: 'calculator', task: 'Write the daily report.', every: '1 day', scheduleId, taskQueue: h.config.TASK_QUEUE, paused: true });
      await triggerAgentSchedule(h.client, scheduleId);
      let sessionId: string | undefined;
      while (!sessionId) {
        sessionId = (await sched.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!sessionId) await new Promise((r) => setTimeout(r, 100));
      }
      await h.client.workflow.getHandle(sessionId).result();
      await deleteAgentSchedule(h.client, scheduleId);
      await save('scheduled-run', sessionId);
    }
    // The model call runs short read-only tools itself (turn.eager); one that throws is run again by the workflow.
    if (wanted('eager-tools-parallel') || wanted('eager-tool-failed-rerun')) {
      h.model.setScript((req) =>
        req.messages.some((m) => m.role === 'tool')
          ? { content: 'done' }
          : { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }, { name: 'add', arguments: { a: 2, b: 2 } }, { name: 'lookup_fact', arguments: { topic: 'owls' } }] },
      );
      const eager = await startSession(h.client, { agent: 'calculator', task: 'parallel' }, h.config);
      await eager.handle.result();
      await save('eager-tools-parallel', eager.sessionId);
      h.model.setScript((req) => (req.messages.some((m) => m.role === 'tool') ? { content: 'fetched' } : { toolCalls: [{ name: 'fetch_once', arguments: { item: 'report' } }] }));
      const flaky = await startSession(h.client, { agent: 'flaky', task: 'fetch' }, h.config);
      await flaky.handle.result();
      await save('eager-tool-failed-rerun', flaky.sessionId);
    }
    // Continue-as-new under continue-not-failed-v1: the closing run is not marked failed.
    if (wanted('continued-as-new-not-failed-first-run')) {
      h.model.setScript((req) => {
        const n = req.messages.filter((m) => m.role === 'tool').length;
        return n < 4 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `counted to ${n}` };
      });
      const long = await startSession(h.client, { agent: 'long-runner', task: 'count' }, h.config);
      await h.client.workflow.getHandle(long.sessionId).result();
      await save('continued-as-new-not-failed-first-run', long.sessionId, long.handle.firstExecutionRunId);
    }
    // Forks under fork-state-v1: the parent's session grant carried (a VIP notice runs without asking),
    // a top-up carried (the fork runs past the agent's own budget), and a fork restoring a workspace snapshot.
    if (wanted('fork-carries-grant') || wanted('fork-carries-top-up') || wanted('fork-restores-workspace')) {
      h.model.setScript((req) => {
        const users = req.messages.filter((m) => m.role === 'user');
        const plan = String(users.at(-1)?.content ?? '').replace(/^notify /, '').split(' then ');
        const done = req.messages.slice(req.messages.lastIndexOf(users.at(-1)!)).filter((m) => m.role === 'tool').length;
        if (req.messages.at(-1)?.role === 'tool' && done >= plan.length) return { content: `done ${plan.at(-1)}` };
        return { toolCalls: [{ name: 'send_notice', arguments: { recipient: plan[done], text: `hello ${plan[done]}` } }] };
      });
      const granted = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann' }, h.config);
      await waitForState(h.client, granted.sessionId, (x) => x.status === 'awaiting_approval');
      await decideApproval(h.client, granted.sessionId, { approvalId: `${granted.sessionId}/3`, decision: 'approve', approver: 'rec', scope: 'session' });
      await granted.handle.result();
      const grantFork = await forkSession(h.client, granted.sessionId, { atSeq: 3, task: 'notify vip-bob' }, h.config);
      await grantFork.handle.result();
      await save('fork-carries-grant', grantFork.sessionId);

      h.model.setScript((req) => {
        const n = req.messages.filter((m) => m.role === 'tool').length;
        return n < 3 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `added ${n}` };
      });
      const budgeted = await startSession(h.client, { agent: 'budgeted', task: 'add' }, h.config);
      await waitForState(h.client, budgeted.sessionId, (x) => x.status === 'budget_exhausted');
      await topUpBudget(h.client, budgeted.sessionId, { approver: 'rec', addSteps: 5 });
      await budgeted.handle.result();
      const topUpFork = await forkSession(h.client, budgeted.sessionId, { atSeq: 5 }, h.config);
      await topUpFork.handle.result();
      await save('fork-carries-top-up', topUpFork.sessionId);

      h.model.setScript((req) => {
        const task = String(req.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '');
        if (req.messages.at(-1)?.role === 'tool') return { content: 'done' };
        return task === 'write'
          ? { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.txt', content: 'v1' } }] }
          : { toolCalls: [{ name: 'read_file', arguments: { path: 'notes.txt' } }] };
      });
      const writer = await startSession(h.client, { agent: 'sandboxed', task: 'write' }, h.config);
      await writer.handle.result();
      const reader = await forkSession(h.client, writer.sessionId, { atSeq: 3, task: 'read' }, h.config);
      await reader.handle.result();
      await save('fork-restores-workspace', reader.sessionId);
    }
    // Sub-agents (patch delegation-v1): a child's approval decided through the parent (signed; both histories),
    // two children of one turn joining, a child that fails, a parent cancelled and a parent ended while their
    // children run, and a three-level budget roll-up.
    const delegationNames = [
      'delegation-approved-through-parent',
      'delegation-approved-through-parent-child',
      'delegation-two-children-joined',
      'delegation-child-failed',
      'delegation-parent-cancelled',
      'delegation-parent-cancelled-child',
      'delegation-parent-ended',
      'delegation-budget-rollup',
    ];
    if (delegationNames.some(wanted)) {
      const text = (m: { content?: unknown } | undefined): string => (typeof m?.content === 'string' ? m.content : '');
      const taskOf = (req: { messages: Array<{ role: string; content?: unknown }> }): string => text(req.messages.find((m) => m.role === 'user'));
      const delegating = (calls: Array<{ name: string; task: string }>, child: (req: ChatRequest) => ScriptedTurn) =>
        h.model.setScript((req) => {
          if (!text(req.messages[0]).startsWith('You hand work to other agents')) return child(req);
          const results = req.messages.filter((m) => m.role === 'tool').map((m) => text(m));
          return results.length === 0 ? { toolCalls: calls.map((c) => ({ name: c.name, arguments: { task: c.task } })) } : { content: `parent done: ${results.join(' | ')}` };
        });
      const notice = (req: { messages: Array<{ role: string; content?: unknown }> }) =>
        req.messages.at(-1)?.role === 'tool' ? { content: 'sent' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: taskOf(req).replace(/^notify /, ''), text: 'hello' } }] };
      const waitForPayment = (req: { messages: Array<{ role: string; content?: unknown }> }) =>
        req.messages.at(-1)?.role === 'tool' ? { content: `${taskOf(req)}: paid` } : { toolCalls: [{ name: 'wait_for_event', arguments: { event: 'payment_received', timeoutSeconds: 3600 } }] };

      const keys = path.join(__dirname, '..', 'test', 'fixtures', 'approvers');
      delegating([{ name: 'delegate_to_signed-notifier', task: 'notify vip-rec' }], notice);
      const p1 = await startSession(h.client, { agent: 'delegator', task: 'Get vip-rec notified.', userId: 'dan' }, h.config);
      const st1 = await waitForState(h.client, p1.sessionId, (x) => x.pendingApprovals.length > 0);
      const base = { approvalId: st1.pendingApprovals[0].approvalId, decision: 'approve' as const, approver: 'alice', argsHash: st1.pendingApprovals[0].argsHash };
      await decideApproval(h.client, p1.sessionId, base).catch(() => undefined); // refused by the child: unsigned
      await decideApproval(h.client, p1.sessionId, signDecision(base, loadSigningKey(path.join(keys, 'alice.pem'), 'alice-key')));
      await p1.handle.result();
      await save('delegation-approved-through-parent', p1.sessionId);
      await save('delegation-approved-through-parent-child', `${p1.sessionId}.d3`);

      delegating(
        [
          { name: 'delegate_to_collector', task: 'collect invoice 1' },
          { name: 'delegate_to_collector', task: 'collect invoice 2' },
        ],
        waitForPayment,
      );
      const p2 = await startSession(h.client, { agent: 'delegator', task: 'Collect both invoices.' }, h.config);
      for (const id of [`${p2.sessionId}.d3`, `${p2.sessionId}.d4`]) await waitForState(h.client, id, (x) => (x.waiting?.length ?? 0) > 0);
      for (const id of [`${p2.sessionId}.d3`, `${p2.sessionId}.d4`]) await sendEvent(h.client, id, 'payment_received', { id });
      await p2.handle.result();
      await save('delegation-two-children-joined', p2.sessionId);

      delegating([{ name: 'delegate_to_calculator', task: 'add 2 and 2' }], () => ({ error: { status: 401, message: 'Incorrect API key provided' } }));
      const p3 = await startSession(h.client, { agent: 'delegator', task: 'Have 2 and 2 added.' }, h.config);
      await p3.handle.result();
      await save('delegation-child-failed', p3.sessionId);

      delegating([{ name: 'delegate_to_strict-notifier', task: 'notify bea' }], notice);
      const p4 = await startSession(h.client, { agent: 'delegator', task: 'Get bea notified.' }, h.config);
      await waitForState(h.client, p4.sessionId, (x) => x.pendingApprovals.length > 0);
      await p4.handle.cancel();
      await p4.handle.result().catch(() => undefined);
      await h.client.workflow.getHandle(`${p4.sessionId}.d3`).result().catch(() => undefined);
      await save('delegation-parent-cancelled', p4.sessionId);
      await save('delegation-parent-cancelled-child', `${p4.sessionId}.d3`);

      delegating([{ name: 'delegate_to_collector', task: 'collect invoice 9' }], waitForPayment);
      const p5 = await startSession(h.client, { agent: 'delegator', task: 'Collect invoice 9.' }, h.config);
      await waitForState(h.client, `${p5.sessionId}.d3`, (x) => (x.waiting?.length ?? 0) > 0);
      await endSession(h.client, p5.sessionId, { by: 'rec', reason: 'not needed' });
      await p5.handle.result();
      await save('delegation-parent-ended', p5.sessionId);

      h.model.setScript((req) => {
        const task = taskOf(req);
        const done = req.messages.filter((m) => m.role === 'tool').length;
        const usage = { prompt_tokens: 100 + done, completion_tokens: 10 + done };
        if (task === 'count with help') {
          if (done === 0) return { usage, toolCalls: [{ name: 'delegate_to_priced-helper', arguments: { task: 'count and hand one on' } }] };
          return { usage, content: 'counted with help' };
        }
        if (task === 'count and hand one on') {
          if (done === 0) return { usage, toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }, { name: 'delegate_to_priced-helper', arguments: { task: 'count' } }] };
          return { usage, content: 'helped' };
        }
        return done === 0 ? { usage, toolCalls: [{ name: 'add', arguments: { a: 2, b: 2 } }] } : { usage, content: 'counted' };
      });
      const p6 = await startSession(h.client, { agent: 'priced-delegator', task: 'count with help' }, h.config);
      await p6.handle.result();
      await save('delegation-budget-rollup', p6.sessionId);
    }
  } finally {
    await h.close();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
