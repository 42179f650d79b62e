/**
 * The HTTP interface other services use: real HTTP on loopback, real sessions behind it, real
 * credentials (hashed bearer keys and HS256 JWTs).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { applicationScript } from '../examples/agents/application/script';
import { buildHttpApi } from '../client/http-api';
import { openSessionStore, type SessionStore } from '../runtime/store';
import { agentSession, SessionStatusKey } from '../workflows/agentSession';
import type { SessionInput } from '../workflows/types';
import { createHarness, freePort, type Harness } from './support/harness';
import { bearer, TEST_JWT_SECRET, testAuth, type TEST_KEYS } from './support/http-keys';

let h: Harness;
let api: FastifyInstance;
let store: SessionStore;
let base = '';

beforeAll(async () => {
  h = await createHarness(applicationScript);
  await h.startWorker();
  store = openSessionStore(h.env.AGENT_STORE_URL);
  api = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store, agents: ['application-processor'], eventPollMs: 200 });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await api?.close();
  await store?.close();
  await h?.close();
});

type Who = keyof typeof TEST_KEYS | { token: string } | undefined;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, path: string, who: Who, body?: unknown): Promise<{ status: number; json: any }> {
  const auth = who === undefined ? {} : typeof who === 'string' ? bearer(who) : { authorization: `Bearer ${who.token}` };
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

interface Pending {
  sessionId: string;
  approvalId: string;
  argsHash: string;
  tool: string;
  args: unknown;
  reason: string;
  approverGroup: string;
  agent: string;
}

async function pendingFor(sessionId: string): Promise<Pending> {
  for (;;) {
    const page = await call('GET', '/approvals', 'viewer');
    const mine = (page.json.items as Pending[]).find((p) => p.sessionId === sessionId);
    if (mine) return mine;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Reads a Server-Sent Events stream until `until` returns true for an event, or the stream ends. */
async function readEvents(path: string, until: (e: { id: string; event: string; data: any }) => boolean, lastEventId?: string, from = base) {
  const ctrl = new AbortController();
  const res = await fetch(`${from}${path}`, { headers: { ...bearer('viewer'), ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, signal: ctrl.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const events: Array<{ id: string; event: string; data: any }> = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut: number;
    let stop = false;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const field = (name: string) => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      if (!field('event')) continue;
      const e = { id: field('id') ?? '', event: field('event')!, data: JSON.parse(field('data') ?? 'null') };
      events.push(e);
      if (until(e) || e.event === 'end') stop = true;
    }
    if (stop) break;
  }
  ctrl.abort();
  return events;
}

test("WORKER_HTTP_PORT: `npm run worker` serves the same API from the worker process; a session started there runs; SIGTERM stops both", async () => {
  const port = await freePort();
  const keysFile = path.join(h.dir, 'worker-http-keys.json');
  writeFileSync(keysFile, JSON.stringify(testAuth.keys));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'workers', 'main.ts')], {
    env: { ...process.env, ...h.env, WORKER_HTTP_PORT: String(port), HTTP_KEYS_FILE: keysFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => ((output += d.toString()), output.includes('HTTP API on') && resolve()));
      void exited.then(() => reject(new Error(`worker exited before its HTTP API was up:\n${output}`)));
    });
    const res = await fetch(`http://127.0.0.1:${port}/sessions`, {
      method: 'POST',
      headers: { ...bearer('starter'), 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'application-processor', task: 'Process applicant A-1001.', sessionId: 'worker-http-1' }),
    });
    expect(res.status).toBe(201);
    // It runs to its approval (the application agent asks for one), served by whichever worker takes it.
    await pendingFor('worker-http-1');
    expect((await fetch(`http://127.0.0.1:${port}/sessions/worker-http-1`, { headers: bearer('viewer') })).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/sessions`, { method: 'POST', body: '{}' })).status).toBe(401);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  await h.client.workflow.getHandle('worker-http-1').terminate('test done');
});

test('auth: 401 without or with bad credentials, 403 for a role that cannot, JWTs map to identities', async () => {
  expect((await call('GET', '/sessions', undefined)).status).toBe(401);
  expect((await call('GET', '/sessions', { token: 'not-a-key' })).json).toEqual({ error: 'unknown bearer key' });
  const forged = await new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('eve').sign(new TextEncoder().encode('another-secret-0123456789abcdef-xyz'));
  expect((await call('GET', '/sessions', { token: forged })).status).toBe(401);
  const expired = await new SignJWT({ roles: ['viewer'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('old').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(TEST_JWT_SECRET));
  expect((await call('GET', '/me', { token: expired })).json.error).toMatch(/invalid token: .*exp/);

  const jwt = await new SignJWT({ roles: ['viewer'], groups: ['approvers'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('jay').setIssuer('idp').setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));
  expect(await call('GET', '/me', { token: jwt })).toEqual({ status: 200, json: { id: 'jay', groups: ['approvers'], roles: ['viewer'], keyId: 'jwt:idp' } });
  // A viewer may read but not start, decide or top up.
  const denied = await call('POST', '/sessions', { token: jwt }, { agent: 'application-processor', task: 'x' });
  expect(denied).toEqual({ status: 403, json: { error: "jay lacks the 'starter' role (has: viewer)" } });
  expect((await call('POST', '/sessions', 'viewer', { agent: 'application-processor', task: 'x' })).status).toBe(403);
  expect((await call('GET', '/me', 'approver')).json).toMatchObject({ id: 'alice', keyId: 'test-approver' });
});

test('the OpenAPI document is valid and describes the routes; the docs page is served', async () => {
  const doc = (await call('GET', '/openapi.json', undefined)).json;
  await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  expect(doc.openapi).toMatch(/^3\./);
  for (const p of ['/sessions', '/sessions/{id}', '/approvals', '/approvals/{id}/{seq}', '/sessions/{id}/events', '/sessions/{id}/cancel', '/sessions/{id}/top-up', '/healthz']) {
    expect(Object.keys(doc.paths)).toContain(p);
  }
  expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  const page = await fetch(`${base}/docs`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('POST /approvals/{id}/{seq}');
});

test('/healthz reports Temporal and the store; a store that does not answer makes it 503', async () => {
  expect(await call('GET', '/healthz', undefined)).toEqual({ status: 200, json: { ok: true, temporal: { ok: true }, store: { ok: true } } });
  const broken = openSessionStore(`sqlite:${h.dir}/broken.sqlite`);
  await broken.close();
  const other = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store: broken });
  try {
    const res = await fetch(`${await other.listen({ port: 0, host: '127.0.0.1' })}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ok: false, temporal: { ok: true }, store: { ok: false, error: expect.any(String) } });
  } finally {
    await other.close();
  }
});

test('start, list, find the approval with its details, refuse bad decisions clearly, approve over HTTP, follow and resume events', async () => {
  expect((await call('POST', '/sessions', 'starter', { agent: 'no-such-agent', task: 'x' })).status).toBe(400);
  const started = await call('POST', '/sessions', 'starter', { agent: 'application-processor', task: 'Process applicant A-1001.', sessionId: 'http-approve-1' });
  expect(started).toEqual({ status: 201, json: { sessionId: 'http-approve-1', webUi: expect.stringContaining('/workflows/http-approve-1') } });
  expect((await call('POST', '/sessions', 'starter', { agent: 'application-processor', task: 'again', sessionId: 'http-approve-1' })).status).toBe(409);
  const sessionId = 'http-approve-1';

  const mine = await pendingFor(sessionId);
  expect(mine).toMatchObject({ tool: 'send_decision', approverGroup: 'approvers', agent: 'application-processor', approvalId: `${sessionId}/${mine.approvalId.split('/')[1]}` });
  expect(mine.reason).toEqual(expect.any(String));
  expect(mine.args).toMatchObject({ applicantId: 'A-1001' });

  // The approval id goes into the URL as it is.
  const path = `/approvals/${mine.approvalId}`;
  expect((await call('POST', path, 'approver', '{not json')).status).toBe(400);
  expect((await call('POST', path, 'approver', { decision: 'maybe' })).status).toBe(400);
  // The approver is the verified identity: a body naming one is refused.
  expect((await call('POST', path, 'approver', { decision: 'approve', approver: 'someone-else' })).status).toBe(400);
  expect(await call('POST', `/approvals/${sessionId}/99999`, 'approver', { decision: 'approve' })).toEqual({ status: 409, json: { error: `unknown approvalId '${sessionId}/99999'` } });
  const wrongHash = await call('POST', path, 'approver', { decision: 'approve', argsHash: '0'.repeat(64) });
  expect(wrongHash.status).toBe(409);
  expect(wrongHash.json.error).toMatch(/argsHash does not match/);
  expect((await call('POST', path, 'viewer', { decision: 'approve' })).status).toBe(403);
  const outsider = await call('POST', path, 'outsider', { decision: 'approve', argsHash: mine.argsHash });
  expect(outsider).toEqual({ status: 403, json: { error: `mallory is not in group 'approvers', which approval '${mine.approvalId}' is asked of (member of: finance)` } });
  expect((await call('GET', '/sessions/no-such-session', 'viewer')).status).toBe(404);

  const before = await readEvents(`/sessions/${sessionId}/events`, (e) => e.event === 'approval_requested');
  const requested = before.find((e) => e.event === 'approval_requested')!;
  expect(requested.data).toMatchObject({ approvalId: mine.approvalId, tool: 'send_decision', argsHash: mine.argsHash });
  expect(before.map((e) => e.event)).toContain('step');
  expect(before.map((e) => e.event)).toContain('tool_call');

  const ok = await call('POST', path, 'approver', { decision: 'approve', argsHash: mine.argsHash, comment: 'fine' });
  expect(ok.status).toBe(200);
  expect(ok.json).toMatchObject({ status: 'approved', approver: 'alice', comment: 'fine' });
  const again = await call('POST', path, 'approver', { decision: 'approve' });
  expect(again.status).toBe(409);
  expect(again.json.error).toMatch(/already approved|session http-approve-1 is completed/);

  // Resuming after the request event yields what came after it, and only that; from another API instance
  // (a restarted API keeps nothing in memory: events come from the store and the workflow's records).
  const restarted = await buildHttpApi(await h.newClient(), h.config, { auth: testAuth, store, eventPollMs: 200 });
  const after = await readEvents(`/sessions/${sessionId}/events`, (e) => e.event === 'final_answer', requested.id, await restarted.listen({ port: 0, host: '127.0.0.1' })).finally(() => restarted.close());
  const kinds = after.map((e) => e.event);
  expect(kinds).not.toContain('approval_requested');
  expect(kinds).toEqual(expect.arrayContaining(['approval_decided', 'tool_result', 'final_answer']));
  expect(after.find((e) => e.event === 'approval_decided')!.data).toMatchObject({ approvalId: mine.approvalId, status: 'approved', approver: 'alice' });
  const result = await h.client.workflow.getHandle(sessionId).result();
  expect(result.status).toBe('completed');
  expect((await call('GET', `/sessions/${sessionId}`, 'viewer')).json).toMatchObject({ status: 'completed', userId: 'sam' });
  expect(h.sent(sessionId)).toHaveLength(1);
});

test('sessions are listed from visibility with filters and pages; cancel and top-up', async () => {
  for (const n of [1, 2, 3]) {
    expect((await call('POST', '/sessions', 'approver', { agent: 'application-processor', task: `Process applicant A-100${n}.`, sessionId: `http-list-${n}` })).status).toBe(201);
  }
  for (const n of [1, 2, 3]) await pendingFor(`http-list-${n}`);
  const first = await call('GET', '/sessions?userId=alice&status=awaiting_approval&pageSize=2', 'viewer');
  expect(first.status).toBe(200);
  expect(first.json.items).toHaveLength(2);
  expect(first.json.nextPageToken).toEqual(expect.any(String));
  const second = await call('GET', `/sessions?userId=alice&status=awaiting_approval&pageSize=2&pageToken=${first.json.nextPageToken}`, 'viewer');
  const ids = [...first.json.items, ...second.json.items].map((s: { sessionId: string }) => s.sessionId).sort();
  expect(ids).toEqual(['http-list-1', 'http-list-2', 'http-list-3']);
  expect(first.json.items[0]).toMatchObject({ agent: 'application-processor', status: 'awaiting_approval', userId: 'alice', executionStatus: 'Running', pendingApprovals: 1 });
  expect((await call('GET', '/sessions?status=bogus', 'viewer')).status).toBe(400);
  expect((await call('GET', '/sessions?agent=a"b', 'viewer')).status).toBe(400);

  expect((await call('POST', '/sessions/http-list-1/top-up', 'starter', { addSteps: 5 })).status).toBe(403);
  const topUp = await call('POST', '/sessions/http-list-1/top-up', 'approver', { addSteps: 5, comment: 'more room' });
  expect(topUp.status).toBe(200);
  expect(topUp.json.budget).toEqual(expect.any(Object));
  expect((await call('POST', '/sessions/http-list-1/top-up', 'approver', { addSteps: -1 })).status).toBe(400);

  expect((await call('POST', '/sessions/http-list-2/cancel', 'viewer', {})).status).toBe(403);
  expect(await call('POST', '/sessions/http-list-2/cancel', 'starter', { reason: 'not needed' })).toEqual({ status: 202, json: { sessionId: 'http-list-2', cancelRequestedBy: 'sam' } });
  await expect(h.client.workflow.getHandle('http-list-2').result()).rejects.toThrow();
  expect((await call('POST', '/sessions/http-list-2/cancel', 'starter', {})).status).toBe(409);
  expect((await call('POST', '/sessions/http-list-2/top-up', 'approver', { addSteps: 1 })).status).toBe(409);
});

test('one session that cannot be listed or read never breaks GET /approvals', async () => {
  const good = 'http-good-1';
  await call('POST', '/sessions', 'approver', { agent: 'application-processor', task: 'Process applicant A-1002.', sessionId: good });
  // Two sessions no worker serves: one publishes no memo, one names an approval the store does not hold.
  const opts = (id: string, memo?: Record<string, unknown>) => ({
    taskQueue: 'nobody-serves-this-queue',
    workflowId: id,
    args: [{ agent: 'application-processor', task: 'x' }] as [SessionInput],
    typedSearchAttributes: [{ key: SessionStatusKey, value: 'awaiting_approval' }],
    ...(memo ? { memo } : {}),
  });
  await h.client.workflow.start(agentSession, opts('http-ghost-nomemo'));
  await h.client.workflow.start(agentSession, opts('http-ghost-nostore', { pendingApprovals: [{ approvalId: 'http-ghost-nostore/7', tool: 'send_decision', approverGroup: 'approvers', argsHash: 'f'.repeat(64), deadline: new Date().toISOString() }] }));
  await pendingFor(good);
  let page: any;
  do {
    page = (await call('GET', '/approvals', 'viewer')).json;
  } while (!page.items.some((p: Pending) => p.sessionId === 'http-ghost-nostore') || !page.unavailable.some((u: { sessionId: string }) => u.sessionId === 'http-ghost-nomemo'));
  expect(page.items.find((p: Pending) => p.sessionId === good)).toMatchObject({ tool: 'send_decision', args: expect.any(Object) });
  expect(page.items.find((p: Pending) => p.sessionId === 'http-ghost-nostore')).toMatchObject({ detailsError: 'no tool call stored at seq 7' });
  // ?mine=true: only what is asked of the caller's groups.
  expect((await call('GET', '/approvals?mine=true', 'outsider')).json.items).toEqual([]);
  for (const id of ['http-ghost-nomemo', 'http-ghost-nostore']) await h.client.workflow.getHandle(id).terminate('test done');
});
