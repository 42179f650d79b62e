/**
 * Forks and resume on a real dev server: a fork shares its parent's stored prefix (no model call or tool
 * effect repeated, no tokens billed again), the parent is untouched, forks of forks work, a fork of a
 * step waiting on an approval waits on its own copy, and a session failed by a revoked model key resumes.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { buildHttpApi } from '../client/http-api';
import { bearer, testAuth } from './support/http-keys';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { decideApproval, forkSession, resumeSession, sessionState, startSession, topUpBudget, waitForState } from '../client/sessions';
import { workspacePath } from '../runtime/workspace';
import { WorkspaceSnapshots } from '../runtime/workspace-snapshots';
import { messageText, type ChatRequest, type ScriptedTurn } from '../runtime/scripted-model';
import { openSessionStore, type SessionStore, type StoredMessage } from '../runtime/store';
import { ForkedAtSeqKey, ParentSessionKey } from '../workflows/search-attributes';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let store: SessionStore;
/** Flipped by the resume test: the model server answers 401 (a revoked key) while it is set. */
let keyRevoked = false;

/**
 * The notifier's model: a user message asks to notify whoever it names (`notify bob then carl`); after
 * each delivery the next recipient is called, then it answers `done <last>`.
 */
function notifierModel(req: ChatRequest): ScriptedTurn {
  const last = req.messages.at(-1)!;
  const users = req.messages.filter((m) => m.role === 'user');
  const plan = messageText(users.at(-1)).replace(/^notify /, '').split(' then ');
  const deliveredSinceUser = req.messages.slice(req.messages.lastIndexOf(users.at(-1)!)).filter((m) => m.role === 'tool').length;
  if (keyRevoked && deliveredSinceUser > 0) return { error: { status: 401, message: 'Incorrect API key provided' } };
  if (last.role === 'tool' && deliveredSinceUser >= plan.length) return { content: `done ${plan.at(-1)}` };
  return { toolCalls: [{ name: 'send_notice', arguments: { recipient: plan[deliveredSinceUser], text: `hello ${plan[deliveredSinceUser]}` } }] };
}

beforeAll(async () => {
  h = await createHarness(notifierModel);
  await h.startWorker();
  store = openSessionStore(h.env.AGENT_STORE_URL);
});
afterAll(async () => {
  await store?.close();
  await h?.close();
});

/** Every message along a failure's cause chain (workflow failure -> activity failure -> application failure). */
async function failureText(result: Promise<unknown>): Promise<string> {
  try {
    await result;
  } catch (err) {
    const parts: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
    return parts.join(' <- ');
  }
  throw new Error('expected the session to fail');
}

const shape = (ms: StoredMessage[]) => ms.map((m) => [m.seq, m.sessionId, m.message.role]);
const recipients = (sessionId: string) => h.sent(sessionId).map((d) => d.applicantId);
const turnTokens = (ms: StoredMessage[]) => ms.reduce((n, m) => n + ((m.meta?.turn as { usage: { totalTokens: number } } | undefined)?.usage.totalTokens ?? 0), 0);

test('a fork starts after its fork point, shares the parent prefix, and leaves the parent untouched; a fork of a fork too', async () => {
  const parent = await startSession(h.client, { agent: 'notifier', task: 'notify bob then carl' }, h.config);
  expect(await parent.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done carl', steps: 3 });
  const parentEntries = await store.list(parent.sessionId);
  // 0 system, 1 user, 2 call bob, 3 bob delivered, 4 call carl, 5 carl delivered, 6 answer.
  expect(parentEntries.map((m) => m.message.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
  const parentState = await sessionState(h.client, parent.sessionId);

  const before = h.model.requests.length;
  const fork = await forkSession(h.client, parent.sessionId, { atSeq: 3 }, h.config);
  expect(fork.sessionId).toMatch(new RegExp(`^${parent.sessionId}\\.f-`));
  expect(await fork.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done carl', steps: 3 });

  // The fork's model calls started after the fork point: two calls (carl, answer), the first one seeing the shared prefix.
  const forkRequests = h.model.requests.slice(before);
  expect(forkRequests).toHaveLength(2);
  expect(forkRequests[0].messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
  // No tool effect of the prefix repeated: the fork delivered only to carl, under its own id.
  expect(recipients(fork.sessionId)).toEqual(['carl']);
  expect(recipients(parent.sessionId)).toEqual(['bob', 'carl']);

  // The parent is unchanged; the fork's transcript is the parent's prefix (not copied) plus its own entries.
  expect(await store.list(parent.sessionId)).toEqual(parentEntries);
  expect(await sessionState(h.client, parent.sessionId)).toEqual(parentState);
  const forkEntries = await store.list(fork.sessionId);
  expect(shape(forkEntries)).toEqual([
    ...shape(parentEntries.slice(0, 4)),
    [4, fork.sessionId, 'assistant'],
    [5, fork.sessionId, 'tool'],
    [6, fork.sessionId, 'assistant'],
  ]);
  expect((await store.stats(fork.sessionId)).count).toBe(3);
  expect(await store.parentOf(fork.sessionId)).toEqual({ parentId: parent.sessionId, beforeSeq: 4 });

  // Usage starts from the parent's at the fork point (its one turn), plus the fork's own turns; not billed again.
  const forkState = await sessionState(h.client, fork.sessionId);
  expect(forkState.forkedFrom).toMatchObject({ sessionId: parent.sessionId, atSeq: 3, workspace: 'none', carried: { grants: 0, topUps: 0 } });
  // The notifier's tool never asks for its workspace: none was made, so the fork's is empty (and exact).
  expect(forkState.forkedFrom?.workspaceDetail).toEqual({ from: 'empty', files: 0, bytes: 0 });
  expect(forkState.usage.totalTokens).toBe(turnTokens(forkEntries));
  expect(forkState.usage.totalTokens).toBe(turnTokens(parentEntries.slice(0, 4)) + turnTokens(forkEntries.slice(4)));
  expect(forkState.transcript.map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);

  // Recorded on the fork for operators (Web UI, list filters).
  const attrs = (await fork.handle.describe()).typedSearchAttributes;
  expect(attrs.get(ParentSessionKey)).toBe(parent.sessionId);
  expect(attrs.get(ForkedAtSeqKey)).toBe(3);

  // A fork of the fork, after the fork's own carl delivery, with a new task.
  const before2 = h.model.requests.length;
  const fork2 = await forkSession(h.client, fork.sessionId, { atSeq: 5, task: 'notify dan', forkId: `${parent.sessionId}-grandchild` }, h.config);
  expect(await fork2.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done dan', steps: 4 });
  expect(h.model.requests.length - before2).toBe(2);
  expect(recipients(fork2.sessionId)).toEqual(['dan']);
  const fork2Entries = await store.list(fork2.sessionId);
  expect(fork2Entries.map((m) => m.sessionId)).toEqual([
    ...Array(4).fill(parent.sessionId),
    fork.sessionId,
    fork.sessionId,
    ...Array(4).fill(fork2.sessionId), // the task, call dan, delivered, answer
  ]);
  expect(messageText({ role: 'user', content: fork2Entries[6].message.content as string })).toBe('notify dan');
  expect(recipients(fork.sessionId)).toEqual(['carl']);
  expect(recipients(parent.sessionId)).toEqual(['bob', 'carl']);

  // A fork point that does not exist is refused with the reason; a task-mode fork of an answer needs a task.
  const bad = await forkSession(h.client, parent.sessionId, { atSeq: 40 }, h.config);
  expect(await failureText(bad.handle.result())).toContain('the parent has no stored entry at seq 40 (its stored entries end at 6); fork at a stored seq');
  const noTask = await forkSession(h.client, parent.sessionId, { atSeq: 6 }, h.config);
  expect(await failureText(noTask.handle.result())).toContain('had already answered at seq 6: give the fork a task');
  await expect(forkSession(h.client, parent.sessionId, { atSeq: -1 }, h.config)).rejects.toThrow('fork options: atSeq: Too small: expected number to be >=0');
});

test('a fork of a step waiting on an approval waits on its own copy; deciding one does not decide the other', async () => {
  const parent = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann' }, h.config);
  const waiting = await waitForState(h.client, parent.sessionId, (s) => s.status === 'awaiting_approval');
  expect(waiting.pendingApprovals.map((a) => a.approvalId)).toEqual([`${parent.sessionId}/3`]);

  const before = h.model.requests.length;
  const fork = await forkSession(h.client, parent.sessionId, { atSeq: 2 }, h.config);
  const forkWaiting = await waitForState(h.client, fork.sessionId, (s) => s.status === 'awaiting_approval');
  expect(forkWaiting.pendingApprovals).toEqual([
    expect.objectContaining({ approvalId: `${fork.sessionId}/3`, tool: 'send_notice', args: { recipient: 'vip-ann', text: 'hello vip-ann', holdMs: 0 }, argsHash: waiting.pendingApprovals[0].argsHash }),
  ]);
  // Waiting on the copy took no model call.
  expect(h.model.requests.length).toBe(before);

  await decideApproval(h.client, fork.sessionId, { approvalId: `${fork.sessionId}/3`, decision: 'approve', approver: 'ops' });
  expect(await fork.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done vip-ann' });
  expect(recipients(fork.sessionId)).toEqual(['vip-ann']);
  // The parent still waits on its own request, and has delivered nothing.
  expect((await sessionState(h.client, parent.sessionId)).pendingApprovals.map((a) => a.approvalId)).toEqual([`${parent.sessionId}/3`]);
  expect(recipients(parent.sessionId)).toEqual([]);
  await expect(decideApproval(h.client, parent.sessionId, { approvalId: `${fork.sessionId}/3`, decision: 'approve', approver: 'ops' })).rejects.toThrow(
    `unknown approvalId '${fork.sessionId}/3'`,
  );
  await decideApproval(h.client, parent.sessionId, { approvalId: `${parent.sessionId}/3`, decision: 'reject', approver: 'ops' });
  await parent.handle.result();
  expect(recipients(parent.sessionId)).toEqual([]);
});

test('resume: a session failed by a revoked model key continues from its last stored step once the key works', async () => {
  keyRevoked = true;
  const parent = await startSession(h.client, { agent: 'notifier', task: 'notify bob then carl' }, h.config);
  await expect(parent.handle.result()).rejects.toMatchObject({ cause: { message: expect.stringContaining('model call failed') } });
  const failed = await sessionState(h.client, parent.sessionId);
  expect(failed.status).toBe('failed');
  expect(failed.error).toMatch(/401|Incorrect API key/);
  expect(recipients(parent.sessionId)).toEqual(['bob']);
  await expect(resumeSession(h.client, `${parent.sessionId}-nope`, h.config)).rejects.toThrow();

  keyRevoked = false; // the operator fixes the key
  const before = h.model.requests.length;
  const resumed = await resumeSession(h.client, parent.sessionId, h.config);
  expect(resumed.sessionId).toBe(`${parent.sessionId}.r1`);
  expect(await resumed.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done carl', steps: 3 });
  // bob's delivery and the first model turn were not repeated: the resumed run called the model twice (carl, answer).
  expect(h.model.requests.length - before).toBe(2);
  expect(h.model.requests[before].messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
  expect(recipients(parent.sessionId)).toEqual(['bob']);
  expect(recipients(resumed.sessionId)).toEqual(['carl']);
  const st = await sessionState(h.client, resumed.sessionId);
  expect(st.forkedFrom).toMatchObject({ sessionId: parent.sessionId, atSeq: 3 });
  const attrs = (await resumed.handle.describe()).typedSearchAttributes;
  expect(attrs.get(ParentSessionKey)).toBe(parent.sessionId);
  expect(attrs.get(ForkedAtSeqKey)).toBe(3);
  // Only a stopped session can be resumed.
  await expect(resumeSession(h.client, resumed.sessionId, h.config)).rejects.toThrow(`session ${resumed.sessionId} is COMPLETED: only a failed, timed-out or terminated session can be resumed`);
});

test("a fork gets a copy of the parent's workspace; what either writes afterwards stays its own", async () => {
  h.model.setScript((req) => {
    const last = req.messages.at(-1)!;
    const task = messageText(req.messages.filter((m) => m.role === 'user').at(-1));
    if (last.role === 'tool') return { content: `tool said: ${messageText(last)}` };
    if (task === 'write') return { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.txt', content: 'written by the parent' } }] };
    if (task === 'overwrite') return { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.txt', content: 'written by the fork' } }] };
    return { toolCalls: [{ name: 'read_file', arguments: { path: 'notes.txt' } }] };
  });
  try {
    const parent = await startSession(h.client, { agent: 'sandboxed', task: 'write' }, h.config);
    await parent.handle.result();
    const fork = await forkSession(h.client, parent.sessionId, { atSeq: 3, task: 'overwrite' }, h.config);
    await fork.handle.result();
    expect((await sessionState(h.client, fork.sessionId)).forkedFrom).toMatchObject({
      workspace: 'restored',
      workspaceDetail: { from: 'snapshot', seq: 3, session: parent.sessionId, files: 1, bytes: 'written by the parent'.length },
    });
    // The parent still reads its own file; a fork of the fork reads the fork's.
    const readParent = await forkSession(h.client, parent.sessionId, { atSeq: 3, task: 'read' }, h.config);
    expect((await readParent.handle.result()).finalAnswer).toContain('written by the parent');
    const readFork = await forkSession(h.client, fork.sessionId, { atSeq: 5, task: 'read' }, h.config);
    expect((await readFork.handle.result()).finalAnswer).toContain('written by the fork');
  } finally {
    h.model.setScript(notifierModel);
  }
});

/** What `ls -A` and `cat` show in a workspace, inside the sandbox: `A=v1;B=b;`. */
const SHOW = `for f in $(ls -A | sort); do printf '%s=%s;' "$f" "$(cat "$f")"; done`;

/**
 * 'three steps': write A=v1 (seq 3), overwrite A=v2 and create B (seq 5), delete A (seq 7), answer (seq 8).
 * 'add C': write C. 'show': one shell call that prints the workspace, then answer with what it printed.
 */
function workspaceModel(req: ChatRequest): ScriptedTurn {
  const users = req.messages.filter((m) => m.role === 'user');
  const task = messageText(users.at(-1));
  const done = req.messages.slice(req.messages.lastIndexOf(users.at(-1)!)).filter((m) => m.role === 'tool').length;
  if (task === 'three steps') {
    const steps = [
      { name: 'write_file', arguments: { path: 'A', content: 'v1' } },
      { name: 'shell', arguments: { command: 'printf v2 > A && printf b > B' } },
      { name: 'shell', arguments: { command: 'rm A' } },
    ];
    return done < steps.length ? { toolCalls: [steps[done]] } : { content: 'three steps done' };
  }
  if (task === 'add C') return done < 1 ? { toolCalls: [{ name: 'write_file', arguments: { path: 'C', content: 'c' } }] } : { content: 'added C' };
  if (done < 1) return { toolCalls: [{ name: 'shell', arguments: { command: SHOW } }] };
  return { content: `workspace: ${(JSON.parse(messageText(req.messages.at(-1))) as { stdout: string }).stdout}` };
}

test("a fork's workspace is its parent's as it was at the fork point (per-step snapshots); the parent's stays as it is; forks of forks too", async () => {
  h.model.setScript(workspaceModel);
  try {
    const parent = await startSession(h.client, { agent: 'sandboxed', task: 'three steps' }, h.config);
    expect(await parent.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'three steps done' });
    const parentDir = workspacePath(h.env.WORKSPACE_ROOT, parent.sessionId);
    const files = (dir: string) => Object.fromEntries(readdirSync(dir).filter((f) => f !== 'lost+found').sort().map((f) => [f, readFileSync(`${dir}/${f}`, 'utf8')]));
    expect(files(parentDir)).toEqual({ B: 'b' });
    // One tree per tool call that changed the workspace, one log record per call.
    expect(new WorkspaceSnapshots(h.env.WORKSPACE_ROOT).usage(parent.sessionId)).toMatchObject({ snapshots: 3, records: 3 });

    /** Forks `from` at `atSeq` with the task 'show': what the fork's sandbox sees, and where it came from. */
    const show = async (from: string, atSeq: number, task = 'show') => {
      const fork = await forkSession(h.client, from, { atSeq, task }, h.config);
      const result = await fork.handle.result();
      return { id: fork.sessionId, answer: result.finalAnswer, forkedFrom: (await sessionState(h.client, fork.sessionId)).forkedFrom };
    };
    // Before any tool call (seq 1, the task): the empty workspace the parent started with.
    expect(await show(parent.sessionId, 1)).toMatchObject({ answer: 'workspace: ', forkedFrom: { workspace: 'none', workspaceDetail: { from: 'empty', files: 0 } } });
    // After step 1: A=v1, no B.
    expect(await show(parent.sessionId, 3)).toMatchObject({
      answer: 'workspace: A=v1;',
      forkedFrom: { workspace: 'restored', workspaceDetail: { from: 'snapshot', seq: 3, session: parent.sessionId, files: 1, bytes: 2 } },
    });
    // At the model turn after step 1 (seq 4), still step 1's tree (the turn's call runs again in the fork: shown after it).
    // After step 2: A=v2 and B. After step 3 and at the answer: B only.
    expect((await show(parent.sessionId, 5)).answer).toBe('workspace: A=v2;B=b;');
    expect((await show(parent.sessionId, 7)).answer).toBe('workspace: B=b;');
    expect(await show(parent.sessionId, 8)).toMatchObject({ answer: 'workspace: B=b;', forkedFrom: { workspaceDetail: { from: 'snapshot', seq: 7 } } });
    // The parent's workspace and snapshots are untouched by all of that.
    expect(files(parentDir)).toEqual({ B: 'b' });
    expect(new WorkspaceSnapshots(h.env.WORKSPACE_ROOT).usage(parent.sessionId)).toMatchObject({ snapshots: 3, records: 3 });

    // A fork at step 2 that writes C; forks of it see its own state after its fork point, the parent's before.
    const mid = await show(parent.sessionId, 5, 'add C'); // 6 user, 7 turn, 8 write C, 9 answer
    expect(mid.answer).toBe('added C');
    expect((await show(mid.id, 8)).answer).toBe('workspace: A=v2;B=b;C=c;');
    // Seq 6 is the fork's (its task): its restored start, recorded as its own first snapshot at seq 5.
    expect(await show(mid.id, 6)).toMatchObject({ answer: 'workspace: A=v2;B=b;', forkedFrom: { workspaceDetail: { from: 'snapshot', seq: 5, session: mid.id } } });
    // Seq 3 is before the fork's own fork point: the parent's state then.
    expect(await show(mid.id, 3)).toMatchObject({ answer: 'workspace: A=v1;', forkedFrom: { workspaceDetail: { from: 'snapshot', seq: 3, session: parent.sessionId } } });
    expect(files(workspacePath(h.env.WORKSPACE_ROOT, mid.id))).toEqual({ A: 'v2', B: 'b', C: 'c' });
    expect(existsSync(`${h.env.WORKSPACE_ROOT}/.snapshots`)).toBe(true);
  } finally {
    h.model.setScript(notifierModel);
  }
});

test('a fork carries the approve-for-session grants decided on calls up to its fork point, not later ones', async () => {
  const parent = await startSession(h.client, { agent: 'notifier', task: 'notify vip-ann then vip-bob' }, h.config);
  await waitForState(h.client, parent.sessionId, (s) => s.status === 'awaiting_approval');
  await decideApproval(h.client, parent.sessionId, { approvalId: `${parent.sessionId}/3`, decision: 'approve', approver: 'ops', scope: 'session' });
  expect(await parent.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done vip-bob' });
  const grants = (await sessionState(h.client, parent.sessionId)).sessionGrants;
  expect(grants).toEqual([expect.objectContaining({ tool: 'send_notice', approvalId: `${parent.sessionId}/3` })]);

  // After the approved call (seq 3): the grant is in force, so a VIP notice runs without asking.
  const after = await forkSession(h.client, parent.sessionId, { atSeq: 3, task: 'notify vip-dan' }, h.config);
  expect(await after.handle.result()).toMatchObject({ status: 'completed', finalAnswer: 'done vip-dan' });
  const afterState = await sessionState(h.client, after.sessionId);
  expect(afterState.sessionGrants).toEqual(grants);
  expect(afterState.forkedFrom?.carried).toEqual({ grants: 1, topUps: 0 });
  expect(afterState.approvals).toEqual([expect.objectContaining({ approvalId: `${after.sessionId}/6`, status: 'approved', scope: 'grant' })]);
  expect(recipients(after.sessionId)).toEqual(['vip-dan']);

  // At the turn whose call the grant was decided on (seq 2): not granted yet, so the call asks again.
  const before = await forkSession(h.client, parent.sessionId, { atSeq: 2 }, h.config);
  const waiting = await waitForState(h.client, before.sessionId, (s) => s.status === 'awaiting_approval');
  expect(waiting.sessionGrants).toBeUndefined();
  expect(waiting.forkedFrom?.carried).toEqual({ grants: 0, topUps: 0 });
  expect(waiting.pendingApprovals.map((a) => a.approvalId)).toEqual([`${before.sessionId}/3`]);
  await before.handle.terminate('test done');
});

test("a fork carries the budget top-ups given up to its fork point: the budget in force and the usage are the parent's then", async () => {
  h.model.setScript((req) => {
    const n = req.messages.filter((m) => m.role === 'tool').length;
    return n < 3 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `added ${n}` };
  });
  try {
    // 'budgeted' stops after 2 model steps (seqs 2 and 4, results 3 and 5); the top-up comes at seq 5.
    const parent = await startSession(h.client, { agent: 'budgeted', task: 'add' }, h.config);
    await waitForState(h.client, parent.sessionId, (s) => s.status === 'budget_exhausted');
    await topUpBudget(h.client, parent.sessionId, { approver: 'ops', addSteps: 5 });
    expect(await parent.handle.result()).toMatchObject({ status: 'completed', steps: 4 });
    const parentState = await sessionState(h.client, parent.sessionId);
    expect(parentState.topUps).toEqual([expect.objectContaining({ add: { maxSteps: 5 }, afterSeq: 5, total: { maxSteps: 5, maxTokens: 0, maxCostUsd: 0 } })]);
    expect(parentState.budget.maxSteps).toBe(7);

    // At seq 5 (the top-up was given there): 2 steps used, 7 allowed; it finishes like the parent did.
    const after = await forkSession(h.client, parent.sessionId, { atSeq: 5 }, h.config);
    expect(await after.handle.result()).toMatchObject({ status: 'completed', steps: 4 });
    const afterState = await sessionState(h.client, after.sessionId);
    expect(afterState.budget.maxSteps).toBe(7);
    expect(afterState.topUps).toEqual(parentState.topUps);
    expect(afterState.forkedFrom?.carried).toEqual({ grants: 0, topUps: 1 });
    expect(afterState.usage).toEqual(parentState.usage); // same turns: two shared, two its own of the same size
    expect(afterState.costUsd).toBeCloseTo(parentState.costUsd, 10);

    // At seq 3 the top-up had not been given: 1 step used of 2, so the fork stops at its budget after one more.
    const before = await forkSession(h.client, parent.sessionId, { atSeq: 3 }, h.config);
    const stopped = await waitForState(h.client, before.sessionId, (s) => s.status === 'budget_exhausted');
    expect(stopped).toMatchObject({ steps: 2, budget: { maxSteps: 2 }, topUps: [], forkedFrom: { carried: { grants: 0, topUps: 0 } } });
    await before.handle.terminate('test done');
  } finally {
    h.model.setScript(notifierModel);
  }
});

test('over HTTP: POST /sessions/:id/fork (checked body) and /sessions/:id/resume (only for a stopped session)', async () => {
  const store = await openSessionStore(h.config.AGENT_STORE_URL);
  const api = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store });
  const base = await api.listen({ port: 0, host: '127.0.0.1' });
  const post = async (path: string, body?: unknown) => {
    const headers = { ...bearer('starter'), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  try {
    const parent = await startSession(h.client, { agent: 'notifier', task: 'notify bob' }, h.config);
    await parent.handle.result();
    expect((await post(`/sessions/${parent.sessionId}/fork`, { atSeq: 'three' })).status).toBe(400);
    expect((await post(`/sessions/${parent.sessionId}/fork`, { atSeq: 3, extra: true })).status).toBe(400);
    const made = await post(`/sessions/${parent.sessionId}/fork`, { atSeq: 3 });
    expect(made).toMatchObject({ status: 201, body: { parentSessionId: parent.sessionId, atSeq: 3 } });
    expect(await h.client.workflow.getHandle(String(made.body.sessionId)).result()).toMatchObject({ status: 'completed', finalAnswer: 'done bob' });
    expect(await post(`/sessions/${parent.sessionId}/resume`)).toMatchObject({ status: 409, body: { error: expect.stringContaining('is COMPLETED: only a failed') } });
    expect((await post('/sessions/no-such-session/fork', { atSeq: 1 })).status).toBe(404);
  } finally {
    await api.close();
    await store.close();
  }
});

test('agentctl fork --at and resume, as the README shows them', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        path.join(__dirname, '..', 'bin', 'agentctl'),
        args,
        { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: h.server.address, TASK_QUEUE: h.env.TASK_QUEUE }, timeout: 90_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const parent = await startSession(h.client, { agent: 'notifier', task: 'notify bob then carl' }, h.config);
  await parent.handle.result();
  const forked = await run(['--json', 'fork', parent.sessionId, '--at', '3', '--task', 'notify dan']);
  expect(forked).toMatchObject({ code: 0 });
  const out = JSON.parse(forked.stdout) as { sessionId: string; parentSessionId: string; atSeq: number };
  expect(out).toMatchObject({ parentSessionId: parent.sessionId, atSeq: 3 });
  expect(await h.client.workflow.getHandle(out.sessionId).result()).toMatchObject({ status: 'completed', finalAnswer: 'done dan' });
  const refused = await run(['resume', parent.sessionId]);
  expect(refused.code).toBe(4);
  expect(refused.stderr).toContain('is COMPLETED: only a failed, timed-out or terminated session can be resumed');
});

test('a fork continues as new like any session: later runs carry on, the fork point is not read again', async () => {
  h.model.setScript((req) => {
    const n = req.messages.filter((m) => m.role === 'tool').length;
    return n < 8 ? { toolCalls: [{ name: 'add', arguments: { a: n, b: 1 } }] } : { content: `counted to ${n}` };
  });
  try {
    const parent = await startSession(h.client, { agent: 'long-runner', task: 'count' }, h.config);
    await h.client.workflow.getHandle(parent.sessionId).result();
    const before = h.model.requests.length;
    // After the second add's result (seq 5): the fork makes 7 more model calls over several runs (a new one every 3 steps).
    const fork = await forkSession(h.client, parent.sessionId, { atSeq: 5 }, h.config);
    const last = h.client.workflow.getHandle(fork.sessionId);
    expect(await last.result()).toMatchObject({ status: 'completed', finalAnswer: 'counted to 8', steps: 9 });
    expect(h.model.requests.length - before).toBe(7);
    expect((await last.describe()).runId).not.toBe(fork.handle.firstExecutionRunId);
    const entries = await store.list(fork.sessionId);
    expect(entries.map((m) => m.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i));
    expect(entries.filter((m) => m.sessionId === parent.sessionId).map((m) => m.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await sessionState(h.client, fork.sessionId)).forkedFrom).toMatchObject({ sessionId: parent.sessionId, atSeq: 5 });
  } finally {
    h.model.setScript(notifierModel);
  }
});
