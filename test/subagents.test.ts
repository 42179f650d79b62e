/**
 * Sub-agents end to end on the dev server (real worker, scripted model over HTTP): a `delegate_to_<agent>`
 * call starts a child session; its approvals show up in the parent (state, memo, search attributes, the
 * operators' list) and are decided through the parent (checked by the child) or in the child; cancelling or
 * ending the parent cancels the children; usage rolls up exactly; children of one turn run at the same time
 * and join; a child's failure reaches the parent's model as a tool error; delegation depth is bounded.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createHarness, type Harness } from './support/harness';
import type { AgentWorker } from '../workers/worker';
import { decideApproval, pendingApprovals, sendEvent, sessionState, signalApproval, startSession, waitForState } from '../client/sessions';
import { listPendingApprovals } from '../client/http-visibility';
import { lastMessage, messageText, type ChatRequest, type ScriptedTurn } from '../runtime/scripted-model';
import { loadSigningKey, signDecision } from '../runtime/signing';
import { ParentSessionKey, PendingApprovalsKey, SessionStatusKey } from '../workflows/search-attributes';
import { BINARY_PRICING } from './support/agents';
import type { SessionResult, SessionState } from '../workflows/types';

let h: Harness;
let worker: AgentWorker;
beforeAll(async () => {
  h = await createHarness();
  worker = await h.startWorker();
});
afterAll(async () => h?.close());

const systemOf = (req: ChatRequest): string => messageText(req.messages.find((m) => m.role === 'system'));
const taskOf = (req: ChatRequest): string => messageText(req.messages.find((m) => m.role === 'user'));
const toolResults = (req: ChatRequest): string[] => req.messages.filter((m) => m.role === 'tool').map((m) => messageText(m));
const isDelegator = (req: ChatRequest): boolean => systemOf(req).startsWith('You hand work to other agents');
const KEYS = path.join(__dirname, 'fixtures', 'approvers');

/** The delegator hands `calls` out in its first turn, then answers with what came back. Children follow `child`. */
function delegatorScript(calls: Array<{ name: string; task: string }>, child: (req: ChatRequest) => ScriptedTurn) {
  h.model.setScript((req) => {
    if (!isDelegator(req)) return child(req);
    const results = toolResults(req);
    if (results.length === 0) return { toolCalls: calls.map((c) => ({ name: c.name, arguments: { task: c.task } })) };
    return { content: `parent done: ${results.join(' | ')}` };
  });
}

/** A notifier child: one notice to the recipient in its task, then it answers. */
const noticeChild = (req: ChatRequest): ScriptedTurn =>
  lastMessage(req)?.role === 'tool' ? { content: `sent: ${messageText(lastMessage(req))}` } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: taskOf(req).replace(/^notify /, ''), text: 'hello' } }] };

test('a child approval shows in the parent (state, memo, search attributes, operators list) and is decided through the parent, checked by the child', async () => {
  delegatorScript([{ name: 'delegate_to_signed-notifier', task: 'notify vip-kim' }], noticeChild);
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Get vip-kim notified.', userId: 'dan' }, h.config);
  const childId = `${parent.sessionId}.d3`;
  const st = await waitForState(h.client, parent.sessionId, (x) => x.pendingApprovals.length > 0);
  expect(st.status).toBe('awaiting_approval');
  const [shown] = st.pendingApprovals;
  expect(shown).toMatchObject({ approvalId: `${childId}/3`, sessionId: childId, tool: 'send_notice', approverGroup: 'support-leads', args: { recipient: 'vip-kim', text: 'hello' } });
  expect(st.delegation?.children).toEqual([expect.objectContaining({ sessionId: childId, agent: 'signed-notifier', status: 'running' })]);
  // The memo (no worker needed) and the search attributes say the same.
  expect(await pendingApprovals(h.client, parent.sessionId)).toEqual([expect.objectContaining({ approvalId: shown.approvalId, sessionId: childId, argsHash: shown.argsHash })]);
  const attrs = (await parent.handle.describe()).typedSearchAttributes;
  expect(attrs.get(SessionStatusKey)).toBe('awaiting_approval');
  expect(attrs.get(PendingApprovalsKey)).toBe(1);
  expect((await h.client.workflow.getHandle(childId).describe()).typedSearchAttributes.get(ParentSessionKey)).toBe(parent.sessionId);

  // The operators' list of everything waiting on a human (visibility + memos): one row, for the asking
  // child, listing the parent it can be decided through. Visibility is eventually consistent: wait for both.
  let row: Awaited<ReturnType<typeof listPendingApprovals>>['items'][number] | undefined;
  for (let i = 0; i < 100 && !row?.delegatedFrom; i++) {
    const page = await listPendingApprovals(h.client, worker.store, h.config, { pageSize: 100, perSessionTimeoutMs: 5000 });
    const rows = page.items.filter((a) => a.approvalId === shown.approvalId);
    expect(rows.length).toBeLessThanOrEqual(1);
    row = rows[0];
    if (!row?.delegatedFrom) await new Promise((r) => setTimeout(r, 200));
  }
  expect(row).toMatchObject({ sessionId: childId, delegatedFrom: [parent.sessionId], agent: 'signed-notifier', tool: 'send_notice', args: { recipient: 'vip-kim', text: 'hello' } });

  // Sent to the parent, checked by the child: a forged signature and an unsigned decision are refused there.
  const alice = loadSigningKey(path.join(KEYS, 'alice.pem'), 'alice-key');
  const base = { approvalId: shown.approvalId, decision: 'approve' as const, approver: 'alice', argsHash: shown.argsHash };
  await expect(decideApproval(h.client, parent.sessionId, signDecision(base, loadSigningKey(path.join(KEYS, 'mallory.pem'), 'alice-key')))).rejects.toThrow(
    new RegExp(`refused by sub-agent session ${childId.replace(/\./g, '\\.')}: bad signature by key 'alice-key'`),
  );
  await expect(decideApproval(h.client, parent.sessionId, base)).rejects.toThrow(/refused by sub-agent session .*: this agent requires signed decisions/);
  // The parent checks what it can see itself: arguments other than the ones shown are refused by its validator.
  await expect(decideApproval(h.client, parent.sessionId, { ...base, argsHash: 'f'.repeat(64) })).rejects.toThrow(/argsHash does not match/);
  expect((await sessionState(h.client, childId)).pendingApprovals).toHaveLength(1);

  const record = await decideApproval(h.client, parent.sessionId, signDecision(base, alice));
  expect(record).toMatchObject({ approvalId: shown.approvalId, status: 'approved', approver: 'alice', decidedBy: { identity: 'alice', keyId: 'alice-key', verified: true, channel: 'update', forwardedBy: parent.sessionId } });
  const result = await parent.handle.result();
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toMatch(new RegExp(`^parent done: Answer from sub-agent 'signed-notifier' \\(session ${childId.replace(/\./g, '\\.')}, 2 steps, \\d+ tokens\\):\\nsent: `));
  const after = await sessionState(h.client, parent.sessionId);
  expect(after.pendingApprovals).toEqual([]);
  expect(after.delegation?.children[0]).toMatchObject({ sessionId: childId, status: 'completed' });
  const child = await sessionState(h.client, childId);
  expect(child.delegatedFrom).toMatchObject({ sessionId: parent.sessionId, depth: 1 });
  expect(child.rejectedMessages.map((m) => m.reason)).toEqual([
    expect.stringMatching(/^decision forwarded by .*: bad signature by key 'alice-key'/),
    expect.stringMatching(/^decision forwarded by .*requires signed decisions/),
  ]);
  expect(h.sent(childId)).toHaveLength(1);
});

test('a child approval decided in the child itself: the parent shows it, then its view clears and the turn goes on', async () => {
  delegatorScript([{ name: 'delegate_to_strict-notifier', task: 'notify ann' }], noticeChild);
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Get ann notified.' }, h.config);
  const childId = `${parent.sessionId}.d3`;
  const st = await waitForState(h.client, parent.sessionId, (x) => x.pendingApprovals.length > 0);
  // `agentctl approvals` (every waiting session, from visibility and memos): one row, for the child that asked.
  // Visibility is eventually consistent: wait until both the parent and the child are listed as waiting.
  const agentctl = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(path.resolve(__dirname, '..', 'bin', 'agentctl'), args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: h.server.address, TASK_QUEUE: h.env.TASK_QUEUE }, timeout: 90_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${String(err)}\n${stderr}`)) : resolve(stdout),
      ),
    );
  const waiting = async (query: string): Promise<number> => {
    let n = 0;
    for await (const _ of h.client.workflow.list({ query })) n++;
    return n;
  };
  for (let i = 0; i < 100 && (await waiting(`WorkflowId IN ("${parent.sessionId}", "${childId}") AND SessionStatus="awaiting_approval"`)) < 2; i++) await new Promise((r) => setTimeout(r, 200));
  const rows = (JSON.parse(await agentctl(['--json', 'approvals'])) as Array<{ approvalId: string; sessionId: string }>).filter((a) => a.approvalId === st.pendingApprovals[0].approvalId);
  expect(rows).toEqual([expect.objectContaining({ sessionId: childId })]);
  // Asked about the parent: the child's approval, to be decided through the parent.
  expect(JSON.parse(await agentctl(['--json', 'approvals', parent.sessionId]))).toEqual([expect.objectContaining({ approvalId: st.pendingApprovals[0].approvalId, sessionId: parent.sessionId, askedBy: childId })]);
  await signalApproval(h.client, childId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'ops' });
  const result = await parent.handle.result();
  expect(result.finalAnswer).toMatch(/^parent done: Answer from sub-agent 'strict-notifier'/);
  const after = await sessionState(h.client, parent.sessionId);
  expect(after.pendingApprovals).toEqual([]);
  expect(after.status).toBe('completed');
  expect(await pendingApprovals(h.client, parent.sessionId)).toEqual([]);
  const child = await sessionState(h.client, childId);
  expect(child.approvals[0]).toMatchObject({ status: 'approved', approver: 'ops' });
  expect(child.approvals[0].decidedBy?.forwardedBy).toBeUndefined();
});

test("a grandchild's approval shows at the top and is decided there by signal: forwarded down two levels, checked where it was asked", async () => {
  delegatorScript([{ name: 'delegate_to_relay', task: 'notify cy' }], (req) => {
    if (!systemOf(req).startsWith('You pass tasks on')) return noticeChild(req);
    const results = toolResults(req);
    return results.length ? { content: `relayed: ${results[0].split('\n').at(-1)}` } : { toolCalls: [{ name: 'delegate_to_strict-notifier', arguments: { task: taskOf(req) } }] };
  });
  const root = await startSession(h.client, { agent: 'delegator', task: 'Get cy notified.' }, h.config);
  const relayId = `${root.sessionId}.d3`;
  const leafId = `${relayId}.d3`;
  const st = await waitForState(h.client, root.sessionId, (x) => x.pendingApprovals.length > 0);
  expect(st.pendingApprovals).toEqual([expect.objectContaining({ approvalId: `${leafId}/3`, sessionId: leafId })]);
  expect((await sessionState(h.client, relayId)).pendingApprovals).toEqual([expect.objectContaining({ approvalId: `${leafId}/3`, sessionId: leafId })]);
  // A decision about other arguments is refused at the top, where the arguments are seen (signal: in rejectedMessages).
  await signalApproval(h.client, root.sessionId, { approvalId: `${leafId}/3`, decision: 'approve', approver: 'ops', argsHash: '0'.repeat(64) });
  await waitForState(h.client, root.sessionId, (x) => x.rejectedMessages.some((m) => /argsHash does not match/.test(m.reason)));
  await signalApproval(h.client, root.sessionId, { approvalId: `${leafId}/3`, decision: 'approve', approver: 'ops' });
  const result = await root.handle.result();
  expect(result.finalAnswer).toMatch(/^parent done: Answer from sub-agent 'relay' .*\nrelayed: sent: /);
  const leaf = await sessionState(h.client, leafId);
  expect(leaf.approvals[0]).toMatchObject({ status: 'approved', approver: 'ops', decidedBy: { channel: 'signal', forwardedBy: relayId } });
  expect(result.delegated?.children).toBe(1);
  expect((await sessionState(h.client, relayId)).delegation?.children[0]).toMatchObject({ sessionId: leafId, status: 'completed' });
});

test('two children of one turn run at the same time and join: both wait for their events before either gets one', async () => {
  delegatorScript(
    [
      { name: 'delegate_to_collector', task: 'collect invoice 1' },
      { name: 'delegate_to_collector', task: 'collect invoice 2' },
    ],
    (req) => (lastMessage(req)?.role === 'tool' ? { content: `${taskOf(req)}: ${messageText(lastMessage(req)).slice(0, 40)}` } : { toolCalls: [{ name: 'wait_for_event', arguments: { event: 'payment_received', timeoutSeconds: 3600 } }] }),
  );
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Collect both invoices.' }, h.config);
  const ids = [`${parent.sessionId}.d3`, `${parent.sessionId}.d4`];
  // Both children wait at once (neither has had its event): they run concurrently, not one after the other.
  for (const id of ids) await waitForState(h.client, id, (x) => (x.waiting?.length ?? 0) > 0);
  const st = await sessionState(h.client, parent.sessionId);
  expect(st.delegation?.children.map((c) => [c.sessionId, c.status])).toEqual(ids.map((id) => [id, 'running']));
  expect(st.status).toBe('running');
  for (const id of ids) await sendEvent(h.client, id, 'payment_received', { id });
  const result = await parent.handle.result();
  // The parent's second model request carries both answers (the turn joined both children).
  const second = h.model.requests.filter((r) => isDelegator(r) && taskOf(r) === 'Collect both invoices.')[1];
  expect(toolResults(second)).toEqual([expect.stringContaining('collect invoice 1: Event'), expect.stringContaining('collect invoice 2: Event')]);
  expect(result.delegated?.children).toBe(2);
  for (const id of ids) expect((await h.client.workflow.getHandle(id).describe()).status.name).toBe('COMPLETED');
});

test('budget roll-up is exact: the parent totals its own usage plus its children (and theirs); a child gets its share of what is left', async () => {
  // Every request is answered with fixed usage, noted per session (keyed by the session's task).
  const used = new Map<string, Array<{ prompt: number; completion: number }>>();
  let n = 0;
  const turn = (req: ChatRequest, t: ScriptedTurn): ScriptedTurn => {
    n += 1;
    const usage = { prompt_tokens: 100 + n, completion_tokens: 7 * n };
    used.set(taskOf(req), [...(used.get(taskOf(req)) ?? []), { prompt: usage.prompt_tokens, completion: usage.completion_tokens }]);
    return { ...t, usage };
  };
  h.model.setScript((req) => {
    const task = taskOf(req);
    const done = toolResults(req).length;
    if (task === 'count with help') {
      if (done === 0) return turn(req, { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] });
      if (done === 1) return turn(req, { toolCalls: [{ name: 'delegate_to_priced-helper', arguments: { task: 'count to 2 and hand one on' } }] });
      return turn(req, { content: `total: ${toolResults(req).at(-1)!.split('\n')[0]}` });
    }
    if (task === 'count to 2 and hand one on') {
      if (done === 0) return turn(req, { toolCalls: [{ name: 'add', arguments: { a: 2, b: 2 } }] });
      if (done === 1) return turn(req, { toolCalls: [{ name: 'delegate_to_priced-helper', arguments: { task: 'count to 1' } }] });
      return turn(req, { content: 'helper counted' });
    }
    return done === 0 ? turn(req, { toolCalls: [{ name: 'add', arguments: { a: 3, b: 3 } }] }) : turn(req, { content: 'leaf counted' });
  });
  const parent = await startSession(h.client, { agent: 'priced-delegator', task: 'count with help' }, h.config);
  const result = (await parent.handle.result()) as SessionResult;
  const childId = `${parent.sessionId}.d5`;
  const grandchildId = `${childId}.d5`;
  const child = (await h.client.workflow.getHandle(childId).result()) as SessionResult;
  const grandchild = (await h.client.workflow.getHandle(grandchildId).result()) as SessionResult;

  const tokens = (task: string): number => (used.get(task) ?? []).reduce((a, u) => a + u.prompt + u.completion, 0);
  const cost = (task: string): number => (used.get(task) ?? []).reduce((a, u) => a + (u.prompt * BINARY_PRICING.inputPerMTokUsd + u.completion * BINARY_PRICING.outputPerMTokUsd) / 1_000_000, 0);
  const own = { parent: 'count with help', child: 'count to 2 and hand one on', grandchild: 'count to 1' };
  // Each level: its own model calls plus everything below it, to the token and to the (binary-exact) dollar.
  expect(grandchild.usage.totalTokens).toBe(tokens(own.grandchild));
  expect(child.usage.totalTokens).toBe(tokens(own.child) + grandchild.usage.totalTokens);
  expect(result.usage.totalTokens).toBe(tokens(own.parent) + child.usage.totalTokens);
  expect(result.usage.totalTokens).toBe(tokens(own.parent) + tokens(own.child) + tokens(own.grandchild));
  expect(grandchild.costUsd).toBe(cost(own.grandchild));
  expect(child.costUsd).toBe(cost(own.child) + grandchild.costUsd);
  expect(result.costUsd).toBe(cost(own.parent) + child.costUsd);
  expect(result.steps).toBe(3);
  expect(result.delegated).toEqual({ steps: child.steps + grandchild.steps, usage: child.usage, costUsd: child.costUsd, children: 1 });
  expect(child.delegated).toEqual({ steps: grandchild.steps, usage: grandchild.usage, costUsd: grandchild.costUsd, children: 1 });

  // The child's budget: half of what the parent had left when it delegated (after its first two model calls).
  const [first, second] = used.get(own.parent)!;
  const parentUsedTokens = first.prompt + first.completion + second.prompt + second.completion;
  const parentUsedCost = cost(own.parent) - ((): number => {
    const last = used.get(own.parent)!.at(-1)!;
    return (last.prompt * BINARY_PRICING.inputPerMTokUsd + last.completion * BINARY_PRICING.outputPerMTokUsd) / 1_000_000;
  })();
  const st = await sessionState(h.client, parent.sessionId);
  expect(st.delegation?.children[0].budget).toEqual({ maxSteps: Math.floor((40 - 2) * 0.5), maxTokens: Math.floor((1_000_000 - parentUsedTokens) * 0.5), maxCostUsd: (100 - parentUsedCost) * 0.5 });
  // The child's limits: its own agent's default budget (50 steps, $1), lowered to the share.
  const childState = await sessionState(h.client, childId);
  expect(childState.budget).toEqual({ maxSteps: 19, maxTokens: Math.floor((1_000_000 - parentUsedTokens) * 0.5), maxCostUsd: 1 });
  expect((await sessionState(h.client, grandchildId)).delegatedFrom).toMatchObject({ sessionId: childId, depth: 2 });
});

test("a child's failure goes back to the parent's model as a tool error; the parent carries on", async () => {
  delegatorScript([{ name: 'delegate_to_calculator', task: 'add 2 and 2' }], () => ({ error: { status: 401, message: 'Incorrect API key provided' } }));
  const before = h.model.requests.length;
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Have 2 and 2 added.' }, h.config);
  const result = await parent.handle.result();
  const childId = `${parent.sessionId}.d3`;
  const mine = h.model.requests.slice(before).filter(isDelegator);
  expect(mine).toHaveLength(2);
  const [told] = toolResults(mine[1]);
  expect(told).toMatch(new RegExp(`^Error: sub-agent 'calculator' \\(session ${childId.replace(/\./g, '\\.')}\\) failed: model call failed: .*Incorrect API key provided`));
  expect(result.status).toBe('completed');
  expect(result.finalAnswer).toContain('parent done: Error: sub-agent');
  expect((await h.client.workflow.getHandle(childId).describe()).status.name).toBe('FAILED');
  const st = await sessionState(h.client, parent.sessionId);
  expect(st.delegation?.children[0]).toMatchObject({ sessionId: childId, status: 'failed', error: expect.stringMatching(/^failed: model call failed/) });
  // What the failed child used (nothing: its only call failed) was still reported and rolled up.
  expect(st.delegation?.children[0].used).toEqual({ steps: 0, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, costUsd: 0 });
});

test('cancelling the parent cancels its children: the child waiting on an approval ends cancelled, its approval withdrawn', async () => {
  delegatorScript([{ name: 'delegate_to_strict-notifier', task: 'notify bea' }], noticeChild);
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Get bea notified.' }, h.config);
  const childId = `${parent.sessionId}.d3`;
  await waitForState(h.client, parent.sessionId, (x) => x.pendingApprovals.length > 0);
  await parent.handle.cancel();
  await expect(parent.handle.result()).rejects.toThrow();
  const child = h.client.workflow.getHandle(childId);
  await expect(child.result()).rejects.toThrow();
  expect((await child.describe()).status.name).toBe('CANCELLED');
  expect((await parent.handle.describe()).status.name).toBe('CANCELLED');
  const cs = await sessionState(h.client, childId);
  expect(cs.status).toBe('cancelled');
  expect(cs.approvals[0].status).toBe('withdrawn');
  const ps = await sessionState(h.client, parent.sessionId);
  expect(ps.status).toBe('cancelled');
  expect(ps.pendingApprovals).toEqual([]);
  expect(ps.delegation?.children[0]).toMatchObject({ sessionId: childId, status: 'cancelled' });
  expect(h.sent(childId)).toHaveLength(0);
});

test('ending the parent cancels its running children; the parent ends with their state recorded', async () => {
  delegatorScript([{ name: 'delegate_to_collector', task: 'collect invoice 9' }], () => ({ toolCalls: [{ name: 'wait_for_event', arguments: { event: 'payment_received', timeoutSeconds: 3600 } }] }));
  const parent = await startSession(h.client, { agent: 'delegator', task: 'Collect invoice 9.' }, h.config);
  const childId = `${parent.sessionId}.d3`;
  await waitForState(h.client, childId, (x) => (x.waiting?.length ?? 0) > 0);
  await h.client.workflow.getHandle(parent.sessionId).signal('end', { by: 'ops', reason: 'not needed' });
  const result = await parent.handle.result();
  expect(result).toMatchObject({ status: 'completed', endReason: 'ended by ops: not needed' });
  expect((await h.client.workflow.getHandle(childId).describe()).status.name).toBe('CANCELLED');
  const ps: SessionState = await sessionState(h.client, parent.sessionId);
  expect(ps.delegation?.children[0]).toMatchObject({ status: 'cancelled', error: 'was cancelled: this session is ending' });
  expect(ps.transcript.find((e) => e.role === 'tool')?.text).toMatch(/^Error: sub-agent 'collector' .* was cancelled: this session is ending/);
});

test('delegation depth is bounded: an agent that delegates to itself stops at depth 3, where the tool is no longer offered', async () => {
  h.model.setScript((req) => {
    const canDelegate = req.tools?.some((t) => t.function.name === 'delegate_to_priced-helper') ?? false;
    if (toolResults(req).length > 0) return { content: `up from ${toolResults(req).at(-1)!.split('\n').at(-1)}` };
    return canDelegate ? { toolCalls: [{ name: 'delegate_to_priced-helper', arguments: { task: 'recurse' } }] } : { content: 'bottom' };
  });
  const before = h.model.requests.length;
  const parent = await startSession(h.client, { agent: 'priced-helper', task: 'recurse' }, h.config);
  const result = await parent.handle.result();
  expect(result.finalAnswer).toBe('up from up from up from bottom');
  const ids = [1, 2, 3].map((depth) => `${parent.sessionId}${'.d3'.repeat(depth)}`);
  for (const [i, id] of ids.entries()) expect((await sessionState(h.client, id)).delegatedFrom?.depth).toBe(i + 1);
  // The deepest session was not offered the delegate tool; the others were.
  const first = h.model.requests.slice(before).filter((r) => toolResults(r).length === 0);
  expect(first.map((r) => r.tools?.some((t) => t.function.name === 'delegate_to_priced-helper'))).toEqual([true, true, true, false]);
});
