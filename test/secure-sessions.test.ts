/**
 * Secure execution inside real sessions: secrets never reach workflow history or the session store,
 * and running tools unsandboxed (SANDBOX=none) is flagged on the session.
 */
import { temporal } from '@temporalio/proto';
import { applicationScript } from '../examples/agents/application/script';
import { sessionState, signalApproval, startSession, waitForState } from '../client/sessions';
import { openSessionStore } from '../runtime/store';
import { activityCalls } from './support/history';
import { createHarness, type Harness } from './support/harness';

const SECRET = 'tok-9f8e7d6c5b4a-test-secret';

describe('secrets', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness([], { AGENT_SECRET_TEST_API_TOKEN: SECRET });
    await h.startWorker();
  });
  afterAll(async () => h?.close());

  test('a sandboxed command never sees a worker secret (none is exported), and it appears nowhere in history or the store', async () => {
    h.model.setScript((req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'checked the token' }
        : {
            toolCalls: [
              { name: 'shell', arguments: { command: 'echo "token=$TEST_API_TOKEN"; echo -n "$TEST_API_TOKEN" | base64; env | grep -c TEST_API_TOKEN' } },
            ],
          },
    );
    const s = await startSession(h.client, { agent: 'sandboxed', task: 'use the API token' }, h.config);
    await s.handle.result();

    const st = await sessionState(h.client, s.sessionId);
    const tool = st.transcript.find((e) => e.role === 'tool')!;
    expect(tool.text).toContain('token=\\n'); // sandboxed code is never given a secret (host-side tools use fetchWithSecret)
    const history = await s.handle.fetchHistory();
    const wire = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    for (const form of [SECRET, Buffer.from(SECRET).toString('base64').replace(/=+$/, '')]) {
      expect(wire.includes(Buffer.from(form))).toBe(false);
    }
    const store = openSessionStore(h.env.AGENT_STORE_URL);
    const stored = JSON.stringify(await store.list(s.sessionId));
    await store.close();
    expect(stored).not.toContain(SECRET);
  });
});

describe('SANDBOX=none', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness([], { SANDBOX: 'none' });
  });
  afterAll(async () => h?.close());

  test('an explicitly unsandboxed worker flags every session in its state and search attributes', async () => {
    await h.spawnWorker(); // a worker process started with SANDBOX=none
    h.model.setScript([{ content: 'nothing to run' }]);
    const s = await startSession(h.client, { agent: 'calculator', task: 'hi' }, h.config);
    await s.handle.result();
    expect((await sessionState(h.client, s.sessionId)).sandboxMode).toBe('none');
    const desc = await s.handle.describe();
    expect(desc.searchAttributes.SandboxMode).toEqual(['none']);
  });
});

describe('sandbox unavailable', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(applicationScript, { AGENT_SANDBOX_BWRAP: '/nonexistent/bwrap' });
  });
  afterAll(async () => h?.close());

  test('a sandboxed tool fails at once with how to fix it; the session adapts and still reaches its approval', async () => {
    await h.spawnWorker(); // a worker process whose bubblewrap is broken
    const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
    const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval', { timeoutMs: 60_000 });
    const failed = st.transcript.find((e) => e.tool === 'run_python')!;
    expect(failed.ok).toBe(false);
    expect(failed.text).toMatch(/sandbox unavailable: .*Fix: /);
    // Not retried: retrying cannot fix the host (the tool runs as a local activity; its marker records the attempt).
    const failedCalls = activityCalls(await s.handle.fetchHistory()).filter((c) => c.type === 'runTool' && c.failed);
    expect(failedCalls).toEqual([expect.objectContaining({ local: true, attempt: 1 })]);
    expect(st.transcript.filter((e) => e.role === 'assistant').pop()?.text).toContain('ratio computed inline');
    await signalApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'ops' });
    expect((await s.handle.result()).status).toBe('completed');
  });
});
