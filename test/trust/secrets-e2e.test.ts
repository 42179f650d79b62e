/**
 * Trust boundary, class 2 (end to end): after a hostile tool run — a host tool prints its secret raw and
 * encoded, writes it to the workspace, logs it, heartbeats it and throws it; sandboxed commands read the
 * file back in other encodings; read_file returns it — the fetched workflow history (encoded bytes), the
 * session store and every later model request are scanned for the secret in raw and encoded forms.
 * The intended path (fetchWithSecret) is checked too: the credential reaches the API, not the sandbox.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { temporal } from '@temporalio/proto';
import { sessionState, startSession } from '../../client/sessions';
import { openSessionStore } from '../../runtime/store';
import type { ChatRequest } from '../../runtime/scripted-model';
import { createHarness, type Harness } from '../support/harness';

const SECRET = 'tok-9f8e7d6c5b4a-test-secret';

/** The forms a leak takes on the wire: raw, reversed, hex, base64 (core, alignment-free), gzip+base64 is decoded below. */
function leakForms(v: string): string[] {
  const rev = [...v].reverse().join('');
  const b64core = (s: string, align: number): string => Buffer.concat([Buffer.alloc(align), Buffer.from(s)]).toString('base64').slice(align ? align + 1 : 0, -4);
  return [v, rev, Buffer.from(v).toString('hex'), Buffer.from(rev).toString('hex'), ...[0, 1, 2].map((a) => b64core(v, a)), v.toUpperCase()];
}

function expectNoLeak(where: string, haystack: string | Buffer): void {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack) : haystack;
  for (const form of leakForms(SECRET)) {
    if (buf.includes(Buffer.from(form))) throw new Error(`${where} contains the secret as ${JSON.stringify(form)}`);
  }
  // gzip+base64 blobs: decode every base64 run and look inside.
  for (const m of buf.toString('latin1').matchAll(/H4sI[A-Za-z0-9+/=]{16,}/g)) {
    const inner = zlib.gunzipSync(Buffer.from(m[0], 'base64')).toString('latin1');
    if (inner.includes(SECRET)) throw new Error(`${where} contains the secret gzip+base64-encoded`);
  }
}

let h: Harness;
let echo: Server;
let echoUrl = '';
const seenAuth: string[] = [];

beforeAll(async () => {
  h = await createHarness([], { AGENT_SECRET_TEST_API_TOKEN: SECRET });
  await h.startWorker();
  // An API that echoes the credential it received (as some do, in errors): the response is redacted too.
  echo = createServer((req, res) => {
    seenAuth.push(String(req.headers.authorization));
    res.end(`hello, you sent ${req.headers.authorization}`);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}/whoami`;
});
afterAll(async () => {
  await new Promise((r) => echo?.close(r));
  await h?.close();
});

test('a hostile tool run leaks the secret into no history, store or model request', async () => {
  const steps: Array<{ name: string; arguments: Record<string, unknown> }> = [
    { name: 'leaky_tool', arguments: { mode: 'print' } },
    { name: 'leaky_tool', arguments: { mode: 'write' } },
    { name: 'shell', arguments: { command: 'cat leak.txt; rev leak.txt; xxd -p leak.txt; od -An -tx1 leak.txt; gzip -c leak.txt | base64 -w0; echo; tr a-z n-za-m < leak.txt' } },
    { name: 'read_file', arguments: { path: 'leak.txt' } },
    { name: 'run_python', arguments: { code: "v=open('leak.txt').read().strip(); print(list(v.encode())); print(' '.join(v)); print(v[::-1].encode().hex())" } },
    { name: 'shell', arguments: { command: 'printenv TEST_API_TOKEN || echo absent; grep -c tok- /proc/self/environ || true' } },
    { name: 'leaky_tool', arguments: { mode: 'throw' } },
    { name: 'call_api', arguments: { url: echoUrl } },
  ];
  h.model.setScript((req: ChatRequest) => {
    const done = req.messages.filter((m) => m.role === 'tool').length;
    return done < steps.length ? { toolCalls: [steps[done]] } : { content: 'inspected everything' };
  });
  const before = h.model.requests.length;
  const s = await startSession(h.client, { agent: 'leaky', task: 'misbehave' }, h.config);
  const result = await s.handle.result();
  expect(result.status).toBe('completed');

  // The tools really had the value (the redactions are there) and the API got it (host-side injection).
  expect(seenAuth).toEqual([`Bearer ${SECRET}`]);
  const st = await sessionState(h.client, s.sessionId);
  const tools = st.transcript.filter((e) => e.role === 'tool');
  expect(tools).toHaveLength(steps.length);
  expect(tools[0].text).toContain('[REDACTED:TEST_API_TOKEN]');
  expect(tools[5].text).toContain('absent'); // sandboxed code never received it
  expect(tools[6].ok).toBe(false);
  expect(tools[6].text).toMatch(/upstream refused key \[REDACTED:TEST_API_TOKEN\]/);

  const history = await s.handle.fetchHistory();
  expectNoLeak('workflow history', Buffer.from(temporal.api.history.v1.History.encode(history).finish()));
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const stored = JSON.stringify(await store.list(s.sessionId));
  await store.close();
  expectNoLeak('session store', stored);
  expect(stored).toContain('[REDACTED:TEST_API_TOKEN]');
  const requests = h.model.requests.slice(before);
  expect(requests.length).toBe(steps.length + 1);
  expectNoLeak('model requests', JSON.stringify(requests));
  expectNoLeak('session state', JSON.stringify(st));
});
