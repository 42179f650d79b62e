/**
 * Trust boundary, class 1: session ids become paths. One id grammar at every entry point; the workspace
 * folder is a hash of the id, a direct child of the root, opened without following links; the runtime
 * never chowns a folder it did not just create.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentSession } from '../../workflows/agentSession';
import { sessionIdProblem } from '../../workflows/session-id';
import { InvalidSessionIdError, SessionId } from '../../runtime/session-id';
import { openSessionWorkspace, workspacePath, WorkspaceError } from '../../runtime/workspace';
import { sendMessage, sessionState, startSession } from '../../client/sessions';
import { buildHttpApi } from '../../client/http-api';
import { openSessionStore } from '../../runtime/store';
import { bearer, testAuth } from '../support/http-keys';
import { SANDBOX_UID } from '../../sandbox/sandbox';
import { createHarness, type Harness } from '../support/harness';

const BAD_IDS = ['', '.', '..', 'a/b', '../x', 'a?b', 'a b', 'a\nb', 'a\u0000b', 'ä', '-leading-dash', '.hidden', 'x'.repeat(129), 'a\\b'];
const GOOD_IDS = ['a', 'session-calculator-Ab3_xY', 'order:42@tenant.example', 'x'.repeat(128)];

describe('the id grammar', () => {
  test.each(BAD_IDS.map((id) => [JSON.stringify(id), id]))('refuses %s with a reason', (_shown, id) => {
    expect(sessionIdProblem(id)).toMatch(/session id/);
    expect(SessionId.safeParse(id).success).toBe(false);
  });
  test.each(GOOD_IDS)('accepts %s', (id) => {
    expect(sessionIdProblem(id)).toBeUndefined();
    expect(SessionId.parse(id)).toBe(id);
  });
  test('the workflow-side module imports nothing (it is bundled into the workflow)', () => {
    const src = fs.readFileSync(path.join(__dirname, '..', '..', 'workflows', 'session-id.ts'), 'utf8');
    expect(src).not.toMatch(/^\s*import\b|require\(/m);
  });
});

describe('id → workspace folder', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'trust-ws-'));
    outside = fs.mkdtempSync(path.join(os.tmpdir(), 'trust-outside-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });

  test('one-to-one and always a direct child of the root (ids that used to share a folder do not)', () => {
    const ids = ['a_b', 'a:b', 'a@b', 'a.b', 'A_b'];
    const dirs = ids.map((id) => workspacePath(root, id));
    expect(new Set(dirs).size).toBe(ids.length);
    for (const d of dirs) expect(path.dirname(d)).toBe(fs.realpathSync(root));
    expect(() => workspacePath(root, '..')).toThrow(InvalidSessionIdError);
    expect(() => workspacePath(root, 'a/b')).toThrow(InvalidSessionIdError);
  });

  test('a symlink planted at the folder name is refused, never followed, and its target is not chowned', () => {
    const dir = workspacePath(root, 'victim');
    fs.symlinkSync(outside, dir);
    const before = fs.statSync(outside);
    expect(() => openSessionWorkspace(root, 'victim')).toThrow(WorkspaceError);
    expect(() => openSessionWorkspace(root, 'victim')).toThrow(/is a symlink/);
    const after = fs.statSync(outside);
    expect([after.uid, after.gid, after.mode]).toEqual([before.uid, before.gid, before.mode]);
  });

  test('a folder created fresh is handed to the sandbox uid; one that was already there is left as it is', () => {
    const fresh = openSessionWorkspace(root, 'fresh-one');
    expect(fresh.created).toBe(true);
    expect(fs.lstatSync(fresh.dir).mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) expect(fs.lstatSync(fresh.dir).uid).toBe(SANDBOX_UID);

    const existing = workspacePath(root, 'pre-existing');
    fs.mkdirSync(existing, { mode: 0o755 });
    const st = fs.lstatSync(existing);
    const opened = openSessionWorkspace(root, 'pre-existing');
    expect(opened).toEqual({ dir: existing, created: false });
    const again = fs.lstatSync(existing);
    expect([again.uid, again.gid, again.mode]).toEqual([st.uid, st.gid, st.mode]);
  });

  test('an unusable root names the path and the setting to change', () => {
    const file = path.join(outside, 'not-a-dir');
    fs.writeFileSync(file, '');
    expect(() => openSessionWorkspace(path.join(file, 'ws'), 'a')).toThrow(new RegExp(`workspace root ${file}/ws is not usable.*WORKSPACE_ROOT`));
  });
});

describe('entry points', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness([]);
    await h.startWorker();
  });
  afterAll(async () => h?.close());

  test('the client refuses a bad id before anything starts', async () => {
    await expect(startSession(h.client, { agent: 'calculator', task: 'x', sessionId: '..' }, h.config)).rejects.toThrow(InvalidSessionIdError);
    await expect(sendMessage(h.client, 'a/b', 'hi', { agent: 'calculator' }, h.config)).rejects.toThrow(/session id "a\/b" is not allowed/);
    await expect(sessionState(h.client, '..')).rejects.toThrow(InvalidSessionIdError);
    expect(h.model.requests).toHaveLength(0);
  });

  test('HTTP refuses a bad id with 400 and the grammar', async () => {
    const store = openSessionStore(h.env.AGENT_STORE_URL);
    const api = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store });
    try {
      const base = await api.listen({ port: 0, host: '127.0.0.1' });
      const res = await fetch(`${base}/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer('starter') },
        body: JSON.stringify({ agent: 'calculator', task: 'x', sessionId: '..' }),
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/letters, digits/);
      expect((await fetch(`${base}/sessions/a%3Fb`, { headers: bearer('viewer') })).status).toBe(400);
    } finally {
      await api.close();
      await store.close();
    }
  });

  test("a session started on Temporal directly with id '..' never gets the data dir as its workspace", async () => {
    // The harness dir holds the session store, the memory store and Temporal's db: the old mapping made
    // it the workspace of session '..' (listed to the model, and chowned to the sandbox uid).
    const before = fs.statSync(h.dir);
    h.model.setScript((req) => (req.messages.some((m) => m.role === 'tool') ? { content: 'done' } : { toolCalls: [{ name: 'shell', arguments: { command: 'ls -la /workspace /workspace/..' } }] }));
    const handle = await h.client.workflow.start(agentSession, {
      taskQueue: h.config.TASK_QUEUE,
      workflowId: '..',
      args: [{ agent: 'sandboxed', task: 'list your workspace' }],
    });
    await handle.result().catch(() => undefined); // refused at the workflow's start (lead) or at the tool: either way
    const after = fs.statSync(h.dir);
    expect([after.uid, after.gid, after.mode]).toEqual([before.uid, before.gid, before.mode]);
    const seen = JSON.stringify(h.model.requests.map((r) => r.messages));
    expect(seen).not.toMatch(/sessions\.sqlite|temporal\.db|memory\.sqlite/);
    expect(!fs.existsSync(h.config.WORKSPACE_ROOT) || fs.readdirSync(h.config.WORKSPACE_ROOT).every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
  });
});
