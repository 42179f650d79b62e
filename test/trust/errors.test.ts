/**
 * Trust boundary, class 8: errors that say what to fix. Each names the thing (endpoint, path, address)
 * and the setting or action that fixes it; HTTP callers get 4xx with the reason, never a bare 500.
 */
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { WorkflowFailedError } from '@temporalio/client';
import { buildHttpApi } from '../../client/http-api';
import { openSessionStore, type SessionStore } from '../../runtime/store';
import { bearer, testAuth } from '../support/http-keys';
import { connectClient, startSession, waitForState } from '../../client/sessions';
import { activityCalls } from '../support/history';
import { createAgentWorker } from '../../workers/worker';
import { testAgents } from '../support/agents';
import { createHarness, freePort, type Harness } from '../support/harness';

let h: Harness;
let notTemporal: Server;
let notTemporalAddress = '';

beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  notTemporal = createServer((_req, res) => res.end('I am a web server'));
  await new Promise<void>((r) => notTemporal.listen(0, '127.0.0.1', r));
  notTemporalAddress = `127.0.0.1:${(notTemporal.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => notTemporal?.close(r));
  await h?.close();
});

describe('model endpoint', () => {
  test('a 200 without choices fails the session at once, naming the endpoint and what was wrong', async () => {
    h.model.setScript([{ rawBody: { object: 'error', message: 'proxy says hello' } }]);
    const s = await startSession(h.client, { agent: 'calculator', task: 'add 1 and 2' }, h.config);
    const err = await s.handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const message = String((err as WorkflowFailedError).cause?.message);
    expect(message).toContain(`model endpoint ${h.model.baseUrl} answered 200 but the body has no "choices" array (keys: object, message)`);
    expect(message).toMatch(/check that OPENAI_BASE_URL points at an OpenAI-compatible/);
    // No retries: one attempt of the model call (in the worker), no fallback to a regular activity.
    const calls = activityCalls(await s.handle.fetchHistory()).filter((c) => c.type === 'callModel');
    expect(calls).toEqual([expect.objectContaining({ local: true, attempt: 1, failed: true })]);
  });

  test('an unreachable OPENAI_BASE_URL is named by the worker at start and in the failed attempt', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/v1`;
    const config = { ...h.config, OPENAI_BASE_URL: dead, TASK_QUEUE: `${h.config.TASK_QUEUE}-dead-model` };
    const w = await createAgentWorker((deps) => testAgents(deps), config);
    try {
      expect(w.warnings).toEqual([expect.stringMatching(new RegExp(`^model endpoint ${dead} is unreachable \\(ECONNREFUSED.*check OPENAI_BASE_URL`))]);
      const s = await startSession(h.client, { agent: 'calculator', task: 'add' }, config);
      let failure: string | undefined;
      while (!failure) {
        const d = await s.handle.describe();
        failure = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'callModel')?.lastFailure?.message ?? undefined;
        if (!failure) await new Promise((r) => setTimeout(r, 200));
      }
      expect(failure).toBe(`model endpoint ${dead} is unreachable (ECONNREFUSED): check OPENAI_BASE_URL and that the server is up`);
      await s.handle.terminate('test done');
    } finally {
      await w.shutdown();
    }
  });
});

describe('data directories', () => {
  const blocked = (): string => {
    const file = path.join(h.dir, `not-a-dir-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(file, '');
    return file;
  };

  test('a session store that cannot be opened names its path and AGENT_STORE_URL', async () => {
    const file = blocked();
    const config = { ...h.config, AGENT_STORE_URL: `sqlite:${file}/sessions.sqlite` };
    await expect(createAgentWorker((deps) => testAgents(deps), config)).rejects.toThrow(
      `cannot open the session store at ${file}/sessions.sqlite`,
    );
    await expect(createAgentWorker((deps) => testAgents(deps), config)).rejects.toThrow(/make .* a directory the worker can write, or set AGENT_STORE_URL/);
  });

  test('a memory store that cannot be opened names its path and MEMORY_URL', async () => {
    const file = blocked();
    await expect(createAgentWorker((deps) => testAgents(deps), { ...h.config, MEMORY_URL: `${file}/memory.sqlite` })).rejects.toThrow(
      new RegExp(`cannot open the memory store at ${file}/memory.sqlite .*or set MEMORY_URL`),
    );
  });

  test('an unusable workspace root is a warning at worker start, naming the path and WORKSPACE_ROOT', async () => {
    const file = blocked();
    const w = await createAgentWorker((deps) => testAgents(deps), { ...h.config, WORKSPACE_ROOT: `${file}/ws`, TASK_QUEUE: `${h.config.TASK_QUEUE}-ws` });
    try {
      expect(w.warnings).toEqual([`workspace root ${file}/ws is not a writable directory (ENOTDIR): fix its permissions or set WORKSPACE_ROOT`]);
    } finally {
      await w.shutdown();
    }
  });
});

describe('TEMPORAL_ADDRESS', () => {
  test('a port that is not Temporal is named, with what to check (worker and client)', async () => {
    const config = { ...h.config, TEMPORAL_ADDRESS: notTemporalAddress };
    await expect(createAgentWorker((deps) => testAgents(deps), config)).rejects.toThrow(
      new RegExp(`^cannot connect to Temporal at ${notTemporalAddress}: something accepts connections there but does not answer as a Temporal server: check that TEMPORAL_ADDRESS is the frontend gRPC port`),
    );
    await expect(connectClient(config)).rejects.toThrow(new RegExp(`^cannot connect to Temporal at ${notTemporalAddress}: something accepts connections`));
  });

  test('a closed port says nothing listens there', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    await expect(createAgentWorker((deps) => testAgents(deps), { ...h.config, TEMPORAL_ADDRESS: address })).rejects.toThrow(
      `cannot connect to Temporal at ${address}: nothing accepts connections there: start the server (\`npm run temporal\`) or fix TEMPORAL_ADDRESS`,
    );
  });
});

describe('HTTP', () => {
  let api: FastifyInstance;
  let base = '';
  let store: SessionStore;
  beforeAll(async () => {
    store = openSessionStore(h.env.AGENT_STORE_URL);
    api = await buildHttpApi(await h.newClient(), h.config, { agents: ['calculator', 'notifier'], auth: testAuth, store });
    base = await api.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  const post = async (p: string, body: unknown): Promise<{ status: number; json: { error?: string } }> => {
    const res = await fetch(`${base}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('approver') }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { error?: string } };
  };

  test('an unknown agent is 400 with the registered agents, and nothing starts', async () => {
    const before = h.model.requests.length;
    const r = await post('/sessions', { agent: 'no-such-agent', task: 'x', sessionId: 'http-unknown-agent' });
    expect(r).toEqual({ status: 400, json: { error: "unknown agent 'no-such-agent'; registered: calculator, notifier" } });
    await expect(h.client.workflow.getHandle('http-unknown-agent').describe()).rejects.toThrow(/not found/i);
    expect((await post('/sessions/http-unknown-chat/messages', { agent: 'nope', text: 'hi' })).status).toBe(400);
    expect(h.model.requests.length).toBe(before);
  });

  test('a duplicate session id is 409', async () => {
    h.model.setScript(() => ({ content: 'ok' }));
    const first = await post('/sessions', { agent: 'calculator', task: 'x', sessionId: 'http-dup' });
    expect(first.status).toBe(201);
    const again = await post('/sessions', { agent: 'calculator', task: 'x', sessionId: 'http-dup' });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatch(/exists or existed.*choose another sessionId/);
  });

  test("a refused Update returns its validator's reason with 409", async () => {
    // A task session that is still running (parked on an approval) refuses chat messages in its validator.
    h.model.setScript(() => ({ toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'hello' } }] }));
    expect((await post('/sessions', { agent: 'notifier', task: 'notify', sessionId: 'http-task-mode' })).status).toBe(201);
    await waitForState(h.client, 'http-task-mode', (st) => st.status === 'awaiting_approval', { timeoutMs: 60_000 });
    const r = await post('/sessions/http-task-mode/messages', { agent: 'notifier', text: 'hello?' });
    expect(r.status).toBe(409);
    expect(r.json.error).toMatch(/refused: .*(task mode|completed)/);
  });

  test('bodies are bounded: a large body is 413, an over-long field 400', async () => {
    const big = await post('/sessions', { agent: 'calculator', task: 'x'.repeat(300 * 1024) });
    expect(big.status).toBe(413);
    const long = await post('/sessions', { agent: 'calculator', task: 'x'.repeat(100_001) });
    expect(long.status).toBe(400);
    expect((await post('/sessions', { agent: 'a'.repeat(129), task: 'x' })).status).toBe(400);
  });
});
