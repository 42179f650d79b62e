/**
 * The HTTP interface other services use: real HTTP on loopback, real sessions behind it.
 */
import type { FastifyInstance } from 'fastify';
import { applicationScript } from '../agents/application/script';
import { buildHttpApi } from '../client/http-api';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let api: FastifyInstance;
let base = '';

beforeAll(async () => {
  h = await createHarness(applicationScript);
  await h.startWorker();
  api = buildHttpApi(await h.newClient(), h.config);
  base = await api.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await api?.close();
  await h?.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

test('start a session, find it among pending approvals, refuse bad decisions clearly, approve it over HTTP', async () => {
  const started = await call('POST', '/sessions', { agent: 'application-processor', task: 'Process applicant A-1001.', userId: 'http-user' });
  expect(started.status).toBe(201);
  const { sessionId } = started.json as { sessionId: string };

  let pending: Array<{ sessionId: string; approvalId: string; argsHash: string }> = [];
  const deadline = Date.now() + 30_000;
  while (!pending.some((p) => p.sessionId === sessionId) && Date.now() < deadline) {
    pending = (await call('GET', '/approvals')).json.pending;
    await new Promise((r) => setTimeout(r, 200));
  }
  const mine = pending.find((p) => p.sessionId === sessionId)!;
  expect(mine).toMatchObject({ tool: 'send_decision', status: 'pending' });

  const path = `/sessions/${sessionId}/approvals/${encodeURIComponent(mine.approvalId)}`;
  expect((await call('POST', path, '{not json')).status).toBe(400);
  const malformed = await call('POST', path, { decision: 'maybe', approver: 'ops' });
  expect(malformed.status).toBe(400);
  const unknown = await call('POST', `/sessions/${sessionId}/approvals/nope`, { decision: 'approve', approver: 'ops' });
  expect(unknown).toEqual({ status: 409, json: { error: "unknown approvalId 'nope'" } });
  const wrongHash = await call('POST', path, { decision: 'approve', approver: 'ops', argsHash: '0'.repeat(64) });
  expect(wrongHash.status).toBe(409);
  expect(wrongHash.json.error).toMatch(/argsHash does not match/);
  expect((await call('GET', '/sessions/no-such-session')).status).toBe(404);

  const ok = await call('POST', path, { decision: 'approve', approver: 'ops-http', argsHash: mine.argsHash });
  expect(ok.status).toBe(200);
  expect(ok.json).toMatchObject({ status: 'approved', approver: 'ops-http' });
  const result = await h.client.workflow.getHandle(sessionId).result();
  expect(result.status).toBe('completed');
  expect((await call('GET', `/sessions/${sessionId}`)).json).toMatchObject({ status: 'completed', userId: 'http-user' });
  expect(h.sent(sessionId)).toHaveLength(1);
});
