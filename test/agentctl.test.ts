/**
 * agentctl spawned as a user runs it (bin/agentctl, a real process), against a real dev server and
 * worker: output and exit codes. Signed approvals use the test approver directory and keys.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { createServer, type Server } from 'node:net';
import { verifyDecisionSignature } from '../workflows/approval-auth';
import { waitForState } from '../client/sessions';
import { oneNoticeScript, TEST_APPROVERS } from './support/agents';
import { killAndWait } from '../runtime/temporal-server';
import { createHarness, freePort, type Harness } from './support/harness';

const AGENTCTL = path.resolve(__dirname, '..', 'bin', 'agentctl');
const KEYS = path.resolve(__dirname, 'fixtures', 'approvers');

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  h.model.setScript(oneNoticeScript('vip-eve', 'Welcome aboard'));
});
afterAll(async () => h?.close());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function agentctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      AGENTCTL,
      args,
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: h.server.address, TASK_QUEUE: h.env.TASK_QUEUE, MEMORY_URL: h.env.MEMORY_URL, ...env }, timeout: 90_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;

test('start, watch until the approval pause, approve with a signing key, watch to completion', async () => {
  const started = await agentctl(['--json', 'start', '--agent', 'signed-notifier', '--task', 'welcome vip-eve', '--user', 'dan']);
  expect(started.code).toBe(0);
  const { sessionId, webUi } = json<{ sessionId: string; webUi: string }>(started);
  expect(webUi).toContain(encodeURIComponent(sessionId));

  const paused = await agentctl(['watch', sessionId]);
  expect(paused.code).toBe(10);
  expect(paused.stdout).toMatch(new RegExp(`paused: send_notice waits for approval ${sessionId}/\\d+ \\(group support-leads\\)`));
  expect(paused.stdout).toContain(`agentctl approve ${sessionId} --approval-id ${sessionId}/`);

  const pending = json<Array<{ approvalId: string; sessionId: string; argsHash: string }>>(await agentctl(['--json', 'approvals']));
  const mine = pending.find((a) => a.sessionId === sessionId);
  expect(mine).toBeDefined();

  // Unsigned: this agent refuses it, and the error names the session.
  const unsigned = await agentctl(['approve', sessionId, '--as', 'alice']);
  expect(unsigned.code).toBe(4);
  expect(unsigned.stderr).toContain(`session '${sessionId}' refused: this agent requires signed decisions`);

  // Signed with alice's key from the environment, as a configured approver would.
  const approved = await agentctl(['approve', sessionId, '--comment', 'ok'], {
    AGENTCTL_APPROVER: 'alice',
    AGENTCTL_KEY: path.join(KEYS, 'alice.pem'),
    AGENTCTL_KEY_ID: 'alice-key',
    APPROVERS_FILE: TEST_APPROVERS,
  });
  expect(approved.stderr).toBe('');
  expect(approved.code).toBe(0);
  expect(approved.stdout).toBe(`approved: send_notice (${mine!.approvalId}) by alice, signed with alice-key\n`);

  const done = await agentctl(['watch', sessionId]);
  expect(done.code).toBe(0);
  expect(done.stdout).toMatch(/^completed: done: /);
  const shown = await agentctl(['show', sessionId]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toContain(`decided:  ${mine!.approvalId}  send_notice: approved by alice (key alice-key) via cli`);
  const listed = json<Array<{ sessionId: string; status: string; agent: string }>>(await agentctl(['--json', 'list', '--agent', 'signed-notifier']));
  expect(listed).toEqual(expect.arrayContaining([expect.objectContaining({ sessionId, agent: 'signed-notifier' })]));
});

test('reject by signal, cancel, and refusals: wrong group, not in the directory, top-up of a closed session', async () => {
  const started = json<{ sessionId: string }>(await agentctl(['--json', 'start', '--agent', 'group-notifier', '--task', 'welcome vip-eve', '--user', 'dan']));
  // group-notifier escalates from support-leads to managers after 2 s: decide after the escalation.
  const st = await waitForState(h.client, started.sessionId, (x) => x.pendingApprovals[0]?.approverGroup === 'managers', { timeoutMs: 20_000 });
  const notMember = await agentctl(['approve', started.sessionId, '--as', 'alice']);
  expect(notMember.code).toBe(4);
  expect(notMember.stderr).toContain(`'alice' is not a member of group 'managers'`);
  const stranger = await agentctl(['approve', started.sessionId, '--as', 'zed', '--directory', TEST_APPROVERS]);
  expect(stranger.code).toBe(4);
  expect(stranger.stderr).toContain(`'zed' is not in the approver directory ${TEST_APPROVERS}`);

  const rejected = await agentctl(['reject', started.sessionId, '--as', 'bob', '--signal', '--comment', 'no']);
  expect(rejected.code).toBe(0);
  expect(rejected.stdout).toContain(`sent reject for ${st.pendingApprovals[0].approvalId}`);
  const final = await agentctl(['--json', 'watch', started.sessionId]);
  expect(final.code).toBe(0);
  expect(json<{ status: string }>(final).status).toBe('completed');
  const topUp = await agentctl(['top-up', started.sessionId, '--steps', '5']);
  expect(topUp.code).toBe(4);
  expect(topUp.stderr).toContain(`session '${started.sessionId}' refused the top-up: workflow execution already completed`);

  const other = json<{ sessionId: string }>(await agentctl(['--json', 'start', '--agent', 'group-notifier', '--task', 'welcome vip-eve']));
  await waitForState(h.client, other.sessionId, (x) => x.status === 'awaiting_approval');
  expect((await agentctl(['cancel', other.sessionId])).code).toBe(0);
  const cancelled = await agentctl(['watch', other.sessionId]);
  expect(cancelled.code).toBe(6);
  expect(cancelled.stdout).toBe('cancelled\n');
});

test('errors name the id or address they concern, with documented exit codes', async () => {
  const missing = await agentctl(['show', 'no-such-session']);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain(`session 'no-such-session' not found at ${h.server.address}`);

  const port = await freePort();
  const unreachable = await agentctl(['--json', 'list'], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
  expect(unreachable.code).toBe(5);
  expect(json<{ error: string; exitCode: number }>(unreachable)).toEqual({ error: expect.stringContaining(`cannot connect to Temporal at 127.0.0.1:${port}`), exitCode: 5 });

  const fork = await agentctl(['fork', 'some-session']);
  expect(fork.code).toBe(2);
  expect(fork.stderr).toContain("required option '--at <seq>' not specified");
  const forkMissing = await agentctl(['fork', 'no-such-session', '--at', '1']);
  expect(forkMissing.code).toBe(3);

  expect((await agentctl(['no-such-command'])).code).toBe(2);
  const badForget = await agentctl(['memory', 'forget']);
  expect(badForget.code).toBe(2);
  expect(badForget.stderr).toContain('exactly one of --namespace or --session');
  const search = await agentctl(['--json', 'memory', 'search', 'anything']);
  expect(search.code).toBe(0);
  expect(json<unknown[]>(search)).toEqual([]);
});

test('sign prints a decision that verifies against the directory key', async () => {
  const r = await agentctl(['sign', '--approval-id', 's-1/4', '--args-hash', 'cd'.repeat(32), '--as', 'bob', '--key', path.join(KEYS, 'bob.pem'), '--key-id', 'bob-key']);
  expect(r.code).toBe(0);
  const d = JSON.parse(r.stdout) as { approvalId: string; argsHash: string; approver: string; decision: 'approve'; keyId: string; signature: string; expiresAt: string };
  expect(d).toMatchObject({ approvalId: 's-1/4', approver: 'bob', decision: 'approve', keyId: 'bob-key' });
  expect(verifyDecisionSignature(d, d.signature, '9adfcddeb357c53ca9e7fb4749c713e6964a12e29ae25d7a0cf99efad30eeab2')).toBe(true);
});

test('server: a taken port gives the remedy with a free port to use', async () => {
  const blocker: Server = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    const r = await agentctl(['server', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`port ${port} is taken by something that is not a healthy Temporal server\\. Use another port: npm start -- --port \\d+ \\(or agentctl server --port \\d+\\)`));
  } finally {
    blocker.close();
  }
});

test('send creates a chat session and continues it; end closes it', async () => {
  const id = `chat-cli-${Date.now()}`;
  const first = await agentctl(['--json', 'send', id, 'hello there', '--agent', 'calculator', '--user', 'dan']);
  expect(first.code).toBe(0);
  expect(json<{ status: string; reply: string }>(first)).toMatchObject({ status: 'awaiting_input', reply: expect.stringMatching(/^done: /) });
  // The agent is found from the session's search attributes when --agent is left out.
  const second = await agentctl(['send', id, 'and again']);
  expect(second.code).toBe(0);
  expect(second.stdout).toMatch(/^done: /);
  const ended = await agentctl(['end', id, '--reason', 'finished']);
  expect(ended.code).toBe(0);
  expect(ended.stdout).toBe(`end requested for ${id}\n`);
  const watched = await agentctl(['--json', 'watch', id]);
  expect(watched.code).toBe(0);
  expect(json<{ status: string }>(watched).status).toBe('completed');
});

test('server starts a dev server on the ports given and says how to use and stop it', async () => {
  const port = await freePort();
  const uiPort = await freePort();
  const db = path.join(h.dir, `cli-server-${port}.db`);
  const r = await agentctl(['--json', 'server', '--port', String(port), '--ui-port', String(uiPort), '--db', db]);
  const out = json<{ address: string; webUi: string; pid: number; started: boolean }>(r);
  try {
    expect(r.code).toBe(0);
    expect(out).toEqual({ address: `127.0.0.1:${port}`, webUi: `http://localhost:${uiPort}`, pid: expect.any(Number), started: true });
    // The server answers: agentctl list against it works (and finds nothing there).
    const listed = await agentctl(['list'], { TEMPORAL_ADDRESS: out.address });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toBe(`no sessions at 127.0.0.1:${port}\n`);
  } finally {
    if (out.pid) await killAndWait(out.pid);
  }
});
