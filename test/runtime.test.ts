/**
 * The runtime's behaviours on a real dev server: tool errors, parallel calls, approval contracts,
 * chat sessions, budgets, cancellation, model errors, search attributes, continue-as-new.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { WorkflowFailedError } from '@temporalio/client';
import { applicationScript } from '../examples/agents/application/script';
import {
  decideApproval,
  endSession,
  sendMessage,
  sessionState,
  startSession,
  topUpBudget,
  waitForState,
} from '../client/sessions';
import { messageText, type ChatRequest } from '../runtime/scripted-model';
import { openSessionStore } from '../runtime/store';
import { activityCalls } from './support/history';
import { concurrency } from './support/agents';
import { createHarness, type Harness } from './support/harness';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
});
afterAll(async () => h?.close());

type History = Awaited<ReturnType<ReturnType<Harness['client']['workflow']['getHandle']>['fetchHistory']>>;
const events = (history: History) => history.events ?? [];

function toolMessages(req: ChatRequest): string[] {
  return req.messages.filter((m) => m.role === 'tool').map(messageText);
}

function lastRequest(): ChatRequest {
  return h.model.requests[h.model.requests.length - 1];
}

describe('tools', () => {
  test('independent tool calls of one turn run in parallel, each with a summary for the Web UI', async () => {
    h.model.setScript([
      {
        toolCalls: [
          { name: 'add', arguments: { a: 1, b: 1 } },
          { name: 'add', arguments: { a: 2, b: 2 } },
          { name: 'lookup_fact', arguments: { topic: 'owls' } },
        ],
      },
      { content: 'done' },
    ]);
    const s = await startSession(h.client, { agent: 'calculator', task: 'parallel' }, h.config);
    await s.handle.result();
    const calls = activityCalls(await s.handle.fetchHistory());
    // Short read-only tools: the model call ran all three (in parallel), no activity of their own.
    expect(calls.filter((c) => c.type === 'runTool')).toHaveLength(0);
    expect(toolMessages(lastRequest())).toEqual(['{"sum":2}', '{"sum":4}', '{"topic":"owls","fact":"owls is interesting"}']);
    expect(calls.filter((c) => c.type === 'callModel').map((c) => c.summary)).toEqual(['model scripted-test-model (step 1)', 'model scripted-test-model (step 2)']);

    // The same tools as activities: readable in the Web UI, each model and tool call carries a one-line summary.
    h.model.setScript([
      { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }, { name: 'add', arguments: { a: 2, b: 2 } }, { name: 'lookup_fact', arguments: { topic: 'owls' } }] },
      { content: 'done' },
    ]);
    const a = await startSession(h.client, { agent: 'calculator-activities', task: 'parallel' }, h.config);
    await a.handle.result();
    const activityCallsOfA = activityCalls(await a.handle.fetchHistory());
    expect(activityCallsOfA.filter((c) => c.type === 'runTool')).toHaveLength(3);
    expect(toolMessages(lastRequest())).toEqual(['{"sum":2}', '{"sum":4}', '{"topic":"owls","fact":"owls is interesting"}']);
    expect(activityCallsOfA.filter((c) => c.type === 'callModel' || c.type === 'runTool').map((c) => c.summary)).toEqual([
      'model scripted-test-model (step 1)',
      'tool add(a 1, b 1)',
      'tool add(a 2, b 2)',
      'tool lookup_fact(topic owls)',
      'model scripted-test-model (step 2)',
    ]);

    // Three calls that each wait for the other two: they only all meet if they really run together.
    const group = `g-${Date.now()}`;
    h.model.setScript([{ toolCalls: [0, 1, 2].map(() => ({ name: 'meet', arguments: { group, size: 3 } })) }, { content: 'met' }]);
    const r = await startSession(h.client, { agent: 'rendezvous', task: 'meet' }, h.config);
    await r.handle.result();
    expect(toolMessages(lastRequest())).toEqual([0, 1, 2].map(() => JSON.stringify({ group, met: true })));
  });

  test('at most maxParallelToolCalls of one turn run at the same time; the others wait their turn', async () => {
    concurrency.max = 0;
    h.model.setScript([{ toolCalls: [0, 1, 2, 3, 4].map(() => ({ name: 'probe', arguments: { expect: 2 } })) }, { content: 'probed' }]);
    const s = await startSession(h.client, { agent: 'capped', task: 'probe' }, h.config);
    await s.handle.result();
    expect(toolMessages(lastRequest())).toEqual([0, 1, 2, 3, 4].map(() => '{"ok":true}'));
    expect(concurrency.max).toBe(2); // the cap (2), reached, never passed
  });

  test('invalid arguments, malformed JSON, an unknown tool and a throwing tool go back to the model; the session goes on', async () => {
    h.model.setScript([
      {
        toolCalls: [
          { name: 'add', arguments: { a: 'one', b: 2 } },
          { name: 'add', arguments: '{"a": 1, "b":' },
          { name: 'delete_everything', arguments: {} },
          { name: 'lookup_fact', arguments: { topic: 'explode' } },
        ],
      },
      { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }] },
      { content: 'recovered: 3' },
    ]);
    const s = await startSession(h.client, { agent: 'calculator', task: 'errors' }, h.config);
    const result = await s.handle.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'recovered: 3', steps: 3 });
    const second = h.model.requests[h.model.requests.length - 2];
    const errors = toolMessages(second);
    expect(errors[0]).toMatch(/^Error: invalid arguments for 'add': a: .*expected number/);
    expect(errors[1]).toMatch(/^Error: arguments for 'add' are not valid JSON/);
    expect(errors[2]).toBe("Error: unknown tool 'delete_everything'; available tools: add, lookup_fact");
    expect(errors[3]).toBe("Error: tool 'lookup_fact' failed: fact service unavailable");
    // The throwing tool was retried per its policy (3 attempts) before the error went to the model.
    // (It runs as a local activity: the marker records the outcome of its last attempt.)
    const failed = activityCalls(await s.handle.fetchHistory()).filter((c) => c.type === 'runTool' && c.failed);
    expect(failed).toEqual([expect.objectContaining({ local: true, attempt: 3 })]);
  });
});

describe('approval contracts', () => {
  test('the request records what was asked; an approver edits the arguments (validated again) and the edit is what runs', async () => {
    h.model.setScript((req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: `result: ${toolMessages(req)[0]}` }
        : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'Your refund is approved' } }] },
    );
    const s = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann' }, h.config);
    const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
    const a = st.pendingApprovals[0];
    expect(a).toMatchObject({
      tool: 'send_notice',
      args: { recipient: 'vip-ann', text: 'Your refund is approved', holdMs: 0 },
      reason: 'notices to vip-ann need approval',
      policyVersion: '1',
      approverGroup: 'approvers',
    });
    expect(Date.parse(a.deadline)).toBeGreaterThan(Date.parse(a.requestedAt));

    await expect(
      decideApproval(h.client, s.sessionId, { approvalId: a.approvalId, decision: 'approve', approver: 'lee', editedArgs: { recipient: 'vip-ann' } }),
    ).rejects.toThrow(/edited arguments refused: invalid arguments for 'send_notice': text/);
    expect((await sessionState(h.client, s.sessionId)).status).toBe('awaiting_approval');

    const record = await decideApproval(h.client, s.sessionId, {
      approvalId: a.approvalId,
      decision: 'approve',
      approver: 'lee',
      comment: 'softer wording',
      argsHash: a.argsHash,
      editedArgs: { recipient: 'vip-ann', text: 'Good news about your refund' },
    });
    expect(record).toMatchObject({ status: 'approved', approver: 'lee', originalArgs: a.args, args: { text: 'Good news about your refund' } });
    await s.handle.result();
    expect(h.sent(s.sessionId).map((x) => x.reason)).toEqual(['Good news about your refund']);
    const final = await sessionState(h.client, s.sessionId);
    const toolEntry = final.transcript.find((e) => e.role === 'tool');
    expect(toolEntry?.approval).toEqual({ status: 'approved', approver: 'lee', comment: 'softer wording', edited: true });
  });

  test('a decision about other arguments (hash mismatch) is refused by the Update validator, with nothing in history', async () => {
    h.model.setScript(applicationScript);
    const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
    const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
    const a = st.pendingApprovals[0];
    await expect(
      decideApproval(h.client, s.sessionId, { approvalId: a.approvalId, decision: 'approve', approver: 'x', argsHash: 'f'.repeat(64) }),
    ).rejects.toThrow(/argsHash does not match/);
    const hist = events(await s.handle.fetchHistory());
    expect(hist.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes || e.workflowExecutionUpdateCompletedEventAttributes)).toHaveLength(0);
    await decideApproval(h.client, s.sessionId, { approvalId: a.approvalId, decision: 'approve', approver: 'x', argsHash: a.argsHash });
    expect((await s.handle.result()).status).toBe('completed');
  });
  // Deadlines and escalation over days: test/workflow/deadlines.test.ts (time-skipping, no real-time sleeps).
});

describe('sessions', () => {
  test('chat: sendMessage creates the session (update-with-start), returns each reply, keeps context; end closes it', async () => {
    h.model.setScript((req) => {
      const users = req.messages.filter((m) => m.role === 'user').map(messageText);
      const last = req.messages[req.messages.length - 1];
      if (last.role === 'user' && users.length === 2) return { toolCalls: [{ name: 'add', arguments: { a: 40, b: 2 } }] };
      if (last.role === 'tool') return { content: `the answer is ${JSON.parse(messageText(last)).sum}` };
      return { content: `you said: ${users.join(' | ')}` };
    });
    const sessionId = `chat-${Date.now()}`;
    const r1 = await sendMessage(h.client, sessionId, 'hello', { agent: 'calculator', userId: 'u-7' }, h.config);
    expect(r1).toMatchObject({ status: 'awaiting_input', reply: 'you said: hello' });
    const other = await h.newClient();
    const r2 = await sendMessage(other, sessionId, 'what is 40+2?', { agent: 'calculator' }, h.config);
    expect(r2.reply).toBe('the answer is 42');
    const st = await sessionState(h.client, sessionId);
    expect(st).toMatchObject({ mode: 'chat', status: 'awaiting_input', userId: 'u-7', steps: 3 });
    expect(st.transcript.filter((e) => e.role === 'user').map((e) => e.text)).toEqual(['hello', 'what is 40+2?']);

    await endSession(h.client, sessionId, { by: 'test', reason: 'done' });
    const result = await h.client.workflow.getHandle(sessionId).result();
    expect(result).toMatchObject({ status: 'completed', endReason: 'ended by test: done' });
    // A session id names one session forever: a closed session is not silently restarted.
    await expect(sendMessage(h.client, sessionId, 'too late', { agent: 'calculator' }, h.config)).rejects.toThrow(/already/i);
  });

  test('budget: hitting maxSteps pauses as budget_exhausted; a top-up (with approver) continues; usage and cost are exact', async () => {
    h.model.setScript((req) => {
      const n = req.messages.filter((m) => m.role === 'tool').length;
      return n < 3 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }], usage: { prompt_tokens: 100, completion_tokens: 10 } } : { content: 'three additions done', usage: { prompt_tokens: 100, completion_tokens: 10 } };
    });
    const s = await startSession(h.client, { agent: 'budgeted', task: 'add three times' }, h.config);
    const paused = await waitForState(h.client, s.sessionId, (x) => x.status === 'budget_exhausted');
    expect(paused).toMatchObject({ steps: 2, budgetExhausted: 'maxSteps 2 reached', usage: { totalTokens: 220 } });
    expect(paused.costUsd).toBeCloseTo((200 * 1000 + 20 * 2000) / 1e6, 10);
    await expect(topUpBudget(h.client, s.sessionId, { approver: '', addSteps: 1 })).rejects.toThrow();
    const budget = await topUpBudget(h.client, s.sessionId, { approver: 'finance-bot', addSteps: 1, comment: 'one more' });
    expect(budget.maxSteps).toBe(3);
    const stillShort = await waitForState(h.client, s.sessionId, (x) => x.status === 'budget_exhausted' && x.steps === 3);
    expect(stillShort.topUps).toEqual([expect.objectContaining({ approver: 'finance-bot', add: { maxSteps: 1 } })]);
    await topUpBudget(h.client, s.sessionId, { approver: 'finance-bot', addSteps: 5 });
    const result = await s.handle.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'three additions done', steps: 4, usage: { totalTokens: 440 } });
  });

  test('budget: a cost cap (USD from the price table) pauses the session until a cost top-up', async () => {
    h.model.setScript((req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'sum done', usage: { prompt_tokens: 100, completion_tokens: 10 } }
        : { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }], usage: { prompt_tokens: 100, completion_tokens: 10 } },
    );
    const s = await startSession(h.client, { agent: 'cost-capped', task: 'add' }, h.config);
    const paused = await waitForState(h.client, s.sessionId, (x) => x.status === 'budget_exhausted');
    expect(paused.budgetExhausted).toBe('maxCostUsd 0.1 reached ($0.1200 spent)');
    expect(paused.steps).toBe(1);
    await topUpBudget(h.client, s.sessionId, { approver: 'finance', addCostUsd: 1 });
    const result = await s.handle.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'sum done', steps: 2 });
    expect(result.costUsd).toBeCloseTo(0.24, 10);
  });

  test('chat: a turn that stops on an approval answers the message with the pending approval; the reply follows the decision', async () => {
    h.model.setScript((req) =>
      req.messages[req.messages.length - 1].role === 'tool'
        ? { content: `done: ${toolMessages(req).pop()}` }
        : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-cy', text: 'welcome' } }] },
    );
    const sessionId = `chat-approval-${Date.now()}`;
    const first = await sendMessage(h.client, sessionId, 'welcome vip-cy please', { agent: 'notifier' }, h.config);
    expect(first).toMatchObject({ status: 'awaiting_approval', pendingApprovals: [expect.objectContaining({ tool: 'send_notice' })] });
    expect(first.reply).toBeUndefined();
    await decideApproval(h.client, sessionId, { approvalId: first.pendingApprovals[0].approvalId, decision: 'approve', approver: 'amy' });
    const st = await waitForState(h.client, sessionId, (x) => x.status === 'awaiting_input');
    expect(st.finalAnswer).toBe('done: {"delivered":"vip-cy"}');
    await endSession(h.client, sessionId);
    expect((await h.client.workflow.getHandle(sessionId).result()).status).toBe('completed');
  });

  // Idle timeouts of chat sessions: test/workflow/deadlines.test.ts (a week, time-skipping).

  test('cancellation stops the running sandboxed tool process and ends as cancelled with the transcript kept', async () => {
    const marker = `cancel-marker-${Date.now()}`;
    h.model.setScript([{ toolCalls: [{ name: 'shell', arguments: { command: `sleep 600 && echo ${marker}; : ${marker}` } }] }]);
    const s = await startSession(h.client, { agent: 'sandboxed', task: 'sleep for a long time' }, h.config);
    const running = (): number[] =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker);
          } catch {
            return false;
          }
        })
        .map(Number);
    const deadline = Date.now() + 30_000;
    while (running().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(running().length).toBeGreaterThan(0);

    await s.handle.cancel();
    const err = await s.handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(running()).toEqual([]); // the tool activity finished cancelling before the session closed
    const st = await sessionState(h.client, s.sessionId);
    expect(st.status).toBe('cancelled');
    expect(st.transcript.map((e) => e.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    expect(st.transcript[3].text).toContain('"killedReason":"cancelled"'); // the tool reported how it ended
  });

  test('model 5xx and 429 are retried with backoff until the call succeeds', async () => {
    h.model.setScript([
      { error: { status: 500, message: 'upstream exploded' } },
      { error: { status: 429, message: 'slow down', type: 'rate_limit_error' } },
      { content: 'finally' },
    ]);
    const s = await startSession(h.client, { agent: 'calculator', task: 'flaky model' }, h.config);
    const result = await s.handle.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'finally', steps: 1 });
    // The first attempt ran in the worker (a local activity) and failed; the call then moved to a regular
    // activity, whose server-side retry with backoff got the answer on its second attempt.
    const history = await s.handle.fetchHistory();
    const calls = activityCalls(history).filter((c) => c.type === 'callModel');
    expect(calls.map((c) => ({ local: c.local, failed: c.failed ?? false }))).toEqual([
      { local: true, failed: true },
      { local: false, failed: false },
    ]);
    const started = events(history).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(started).toEqual([2]);
    expect(calls[1].summary).toBe('model scripted-test-model (step 1), retried as an activity');
  });

  test('a 401 from the model endpoint is not retried: the session fails with the reason visible', async () => {
    h.model.setScript([{ error: { status: 401, message: 'Incorrect API key provided', type: 'invalid_request_error' } }, { content: 'never' }]);
    const before = h.model.requests.length;
    const s = await startSession(h.client, { agent: 'calculator', task: 'bad key' }, h.config);
    const err = await s.handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(/model call failed: model endpoint http:\/\/127\.0\.0\.1:\d+\/v1 answered 401/);
    expect(h.model.requests.length - before).toBe(1);
    const st = await sessionState(h.client, s.sessionId);
    expect(st.status).toBe('failed');
    expect(st.error).toMatch(/401.*Incorrect API key/);
  });
});

describe('operators', () => {
  test('search attributes: what waits on a human is listed by SessionStatus, with agent, user, tokens', async () => {
    h.model.setScript(applicationScript);
    const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1003.', userId: 'ops-test-user' }, h.config);
    await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
    const query = `SessionStatus="awaiting_approval" AND UserId="ops-test-user" AND AgentName="application-processor"`;
    let found: Array<{ workflowId: string; searchAttributes: Record<string, unknown> }> = [];
    const deadline = Date.now() + 15_000;
    while (found.length === 0 && Date.now() < deadline) {
      found = [];
      for await (const wf of h.client.workflow.list({ query })) found.push(wf as never);
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found.map((w) => w.workflowId)).toEqual([s.sessionId]);
    const sa = found[0].searchAttributes;
    expect(sa.PendingApprovals).toEqual([1]);
    expect((sa.TokensUsed as number[])[0]).toBeGreaterThan(0);
    expect(sa.SandboxMode).toEqual(['bubblewrap']);
    const desc = await s.handle.describe();
    expect(await desc.staticSummary()).toContain('application-processor for ops-test-user');
    await s.handle.terminate('test done');
  });

  test('continue-as-new: a long task moves to fresh runs carrying references, and finishes with the whole transcript stored', async () => {
    h.model.setScript((req) => {
      const n = req.messages.filter((m) => m.role === 'tool').length;
      return n < 7 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `counted to ${n}` };
    });
    const s = await startSession(h.client, { agent: 'long-runner', task: 'count to seven' }, h.config);
    const result = await h.client.workflow.getHandle(s.sessionId).result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'counted to 7', steps: 8 });
    const st = await sessionState(h.client, s.sessionId);
    expect(st.run).toBe(3);
    const store = openSessionStore(h.env.AGENT_STORE_URL);
    const stored = await store.list(s.sessionId);
    await store.close();
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i));
    // The model saw every earlier message in every run (read from the store, not from history).
    expect(lastRequest().messages).toHaveLength(16);
  });
});
