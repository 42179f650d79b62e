/**
 * HTTP API figures (part of `npm run bench`; alone: `npx tsx examples/bench/http.ts [--sessions=N]`):
 *  - approve-to-resume over HTTP: POST /approvals/<id> sent -> the session has run the approved tool
 *    and completed (one more scripted model step), and the POST's own round trip;
 *  - GET /approvals requests/s with N sessions waiting (default 1,000), listed from visibility plus the
 *    session store, as the inbox asks for them.
 * Writes its table into examples/bench/RESULTS.md between the `http` markers (the other benches keep their sections).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildHttpApi, sha256Hex, startSession } from 'agent-runtime/client';
import type { ChatRequest, ScriptedTurn } from 'agent-runtime/testing';
import { openSessionStore } from 'agent-runtime/worker';
import { createHarness } from '../../test/support/harness';
import { writeWorkflowBundle } from '../../test/support/paths';
import { percentile } from './run';

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const START = '<!-- http:start -->';
const END = '<!-- http:end -->';
const KEY = 'bench-approver-key';

/** One tool call that needs approval (a notice to a VIP), then the answer. */
function script(req: ChatRequest): ScriptedTurn {
  return req.messages.some((m) => m.role === 'tool') ? { content: 'done' } : { toolCalls: [{ name: 'send_notice', arguments: { recipient: 'vip-ann', text: 'hello' } }] };
}

async function inBatches<T>(items: T[], size: number, work: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

export async function benchHttp(opts: { sessions: number; resumes: number }): Promise<string> {
  const h = await createHarness(script);
  await h.startWorker();
  const store = openSessionStore(h.env.AGENT_STORE_URL);
  const api = await buildHttpApi(await h.newClient(), h.config, {
    store,
    auth: { keys: { keys: [{ id: 'bench', sha256: sha256Hex(KEY), identity: { id: 'bench', groups: ['approvers'], roles: ['approver'] } }] } },
  });
  const base = await api.listen({ port: 0, host: '127.0.0.1' });
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  try {
    const ids = Array.from({ length: opts.sessions }, (_, i) => `bench-http-${i}`);
    await inBatches(ids, 50, (sessionId) => startSession(h.client, { agent: 'notifier', task: 'notify', sessionId }, h.config));
    // Wait until visibility lists every session as waiting.
    for (;;) {
      const { count } = await h.client.workflowService.countWorkflowExecutions({ namespace: 'default', query: 'SessionStatus="awaiting_approval" AND ExecutionStatus="Running"' });
      if (Number(count) >= opts.sessions) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    // GET /approvals: pages of 100 (what the inbox shows), 4 clients in parallel.
    const pageLatency: number[] = [];
    const requests = 200;
    let pageToken: string | undefined;
    const t0 = performance.now();
    await inBatches(Array.from({ length: requests }, (_, i) => i), 4, async () => {
      const s = performance.now();
      const res = await fetch(`${base}/approvals?pageSize=100${pageToken ? `&pageToken=${pageToken}` : ''}`, { headers });
      const page = (await res.json()) as { items: unknown[]; nextPageToken?: string };
      if (res.status !== 200 || page.items.length === 0) throw new Error(`GET /approvals answered ${res.status} with ${page.items.length} items`);
      pageLatency.push(performance.now() - s);
    });
    const perSecond = requests / ((performance.now() - t0) / 1000);
    // The whole list, page after page (500 a page).
    const fullLatency: number[] = [];
    let listed = 0;
    for (let run = 0; run < 5; run++) {
      const s = performance.now();
      listed = 0;
      pageToken = undefined;
      do {
        const page = (await (await fetch(`${base}/approvals?pageSize=500${pageToken ? `&pageToken=${pageToken}` : ''}`, { headers })).json()) as { items: unknown[]; nextPageToken?: string };
        listed += page.items.length;
        pageToken = page.nextPageToken;
      } while (pageToken);
      fullLatency.push(performance.now() - s);
    }
    if (listed < opts.sessions) throw new Error(`listed ${listed} of ${opts.sessions} pending approvals`);

    // Approve over HTTP, one session at a time.
    const rpc: number[] = [];
    const resume: number[] = [];
    for (const sessionId of ids.slice(0, opts.resumes)) {
      const { memo } = await h.client.workflow.getHandle(sessionId).describe();
      const [pending] = memo!.pendingApprovals as Array<{ approvalId: string }>;
      const s = performance.now();
      const res = await fetch(`${base}/approvals/${pending.approvalId}`, { method: 'POST', headers, body: JSON.stringify({ decision: 'approve' }) });
      rpc.push(performance.now() - s);
      if (res.status !== 200) throw new Error(`approve ${pending.approvalId}: ${res.status} ${await res.text()}`);
      await h.client.workflow.getHandle(sessionId).result();
      resume.push(performance.now() - s);
    }
    const fmt = (x: number): string => x.toFixed(2);
    return [
      START,
      '## HTTP API',
      '',
      `Measured by \`npm run bench\` (examples/bench/http.ts) on ${new Date().toISOString()} (${os.cpus().length} cores, Node ${process.version}): dev server, ${opts.sessions} sessions waiting on an approval, API and worker in one process, SQLite session store, loopback HTTP.`,
      '',
      '| measurement | n | p50 (ms) | p99 (ms) | note |',
      '|---|---:|---:|---:|---|',
      `| HTTP approve sent -> approved tool ran and session completed | ${resume.length} | ${fmt(percentile(resume, 50))} | ${fmt(percentile(resume, 99))} | includes the final scripted model step |`,
      `| POST /approvals/<id> round trip (Update through HTTP) | ${rpc.length} | ${fmt(percentile(rpc, 50))} | ${fmt(percentile(rpc, 99))} | |`,
      `| GET /approvals?pageSize=100 with ${opts.sessions} waiting, 4 concurrent clients | ${requests} | ${fmt(percentile(pageLatency, 50))} | ${fmt(percentile(pageLatency, 99))} | **${perSecond.toFixed(1)} requests/s** |`,
      `| all ${opts.sessions} pending approvals, pages of 500 | ${fullLatency.length} | ${fmt(percentile(fullLatency, 50))} | ${fmt(percentile(fullLatency, 99))} | visibility list + store lookups |`,
      END,
    ].join('\n');
  } finally {
    await api.close();
    await store.close();
    await h.close();
  }
}

/** Replaces (or appends) the http section of RESULTS.md. */
export function writeHttpSection(section: string, file = RESULTS_FILE): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const re = new RegExp(`${START}[\\s\\S]*?${END}`);
  writeFileSync(file, re.test(current) ? current.replace(re, section) : `${current.trimEnd()}\n\n${section}\n`);
}

if (require.main === module) {
  const n = Number(process.argv.find((a) => a.startsWith('--sessions='))?.slice('--sessions='.length) ?? 1000);
  writeWorkflowBundle()
    .then(() => benchHttp({ sessions: n, resumes: Math.min(n, 50) }))
    .then((section) => {
      writeHttpSection(section);
      console.log(section);
    })
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
