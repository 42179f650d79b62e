/**
 * Restate peer: the same agent loop as a Restate workflow (`session`, keyed by the session id). The model call
 * and each tool call are `ctx.run` journal entries; the approval is a durable promise the shared `approve`
 * handler resolves. Restate 1.7 single node (the server binary shipped by @restatedev/restate-server, RocksDB).
 *
 * Processes: the restate-server; `restate.ts service` - the SDK endpoint (HTTP/2 on 127.0.0.1), the "worker"
 * that the crash test SIGKILLs while the server stays up; `restate.ts driver` - forked by the orchestrator,
 * plays the client through @restatedev/restate-sdk-clients.
 */
import './polyfill';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import * as clients from '@restatedev/restate-sdk-clients';
import type OpenAI from 'openai';
import { freePort, killHard, logToolStart, MODEL, openaiClient, pool, postJson, serveDriver, sleep, spawnTs, trackChild } from './common';
import { BENCH_INSTRUCTIONS, BENCH_TOOLS, benchTask, epochMs, type DriverSetup, type SystemDriver } from './protocol';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type Decision = { approved: boolean };

function sessionWorkflow(openai: OpenAI, toolLog: string) {
  return restate.workflow({
    name: 'session',
    handlers: {
      run: async (ctx: restate.WorkflowContext, input: { task: string }): Promise<string> => {
        const messages: Message[] = [
          { role: 'system', content: BENCH_INSTRUCTIONS },
          { role: 'user', content: input.task },
        ];
        // Bounded like every loop in the bench; the scripted model answers long before.
        for (let turn = 0; turn < 10_000; turn++) {
          const m = await ctx.run('model', async () => {
            const res = await openai.chat.completions.create({ model: MODEL, messages, tools: BENCH_TOOLS });
            const msg = res.choices[0].message;
            return { content: msg.content, tool_calls: msg.tool_calls?.length ? msg.tool_calls : undefined };
          });
          messages.push({ role: 'assistant', content: m.content, ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}) });
          if (!m.tool_calls) return m.content ?? '';
          for (const call of m.tool_calls) {
            if (call.type !== 'function') continue;
            let result: unknown;
            if (call.function.name === 'approved_action') {
              ctx.set('status', 'awaiting_approval');
              const decision = await ctx.promise<Decision>('approval').get();
              ctx.set('status', 'running');
              result = decision.approved
                ? await ctx.run('approved_action', () => {
                    logToolStart(toolLog, ctx.key, 'approved_action');
                    return { done: true };
                  })
                : 'denied';
            } else {
              const args = JSON.parse(call.function.arguments) as { i: number };
              result = await ctx.run('noop', () => ({ ok: true, i: args.i }));
            }
            messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
          }
        }
        throw new restate.TerminalError('too many turns');
      },
      approve: async (ctx: restate.WorkflowSharedContext, decision: Decision): Promise<void> => {
        await ctx.promise<Decision>('approval').resolve(decision);
      },
    },
  });
}
type SessionWorkflow = ReturnType<typeof sessionWorkflow>;

async function runService(): Promise<void> {
  const env = process.env as Record<string, string>;
  const handler = restate.createEndpointHandler({ services: [sessionWorkflow(openaiClient(env.MODEL_BASE_URL), env.TOOL_LOG)] });
  const server = http2.createServer(handler);
  await new Promise<void>((r) => server.listen(Number(env.SVC_PORT), '127.0.0.1', r));
  process.stdout.write('READY\n');
}

function restateBinary(): string {
  return path.join(path.dirname(require.resolve('@restatedev/restate-server-linux-x64/package.json')), 'bin', 'restate-server');
}

async function waitHttp(url: string, timeoutMs: number, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`restate-server exited with ${server.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms`);
}

async function createDriver(setup: DriverSetup): Promise<SystemDriver> {
  const [nodePort, adminPort, ingressPort, svcPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const base = path.join(setup.dir, 'restate');
  mkdirSync(base, { recursive: true });
  const config = path.join(base, 'restate.toml');
  writeFileSync(
    config,
    [
      `base-dir = ${JSON.stringify(path.join(base, 'data'))}`,
      `bind-address = "127.0.0.1:${nodePort}"`,
      'disable-telemetry = true',
      'log-filter = "warn"',
      '[admin]',
      `bind-address = "127.0.0.1:${adminPort}"`,
      'disable-web-ui = true',
      '[ingress]',
      `bind-address = "127.0.0.1:${ingressPort}"`,
      '',
    ].join('\n'),
  );
  const log = openSync(path.join(base, 'server.log'), 'a');
  const server = spawn(restateBinary(), ['--config-file', config, '--no-logo', '--listen-mode', 'tcp'], { stdio: ['ignore', log, log] });
  trackChild(server);
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitHttp(`${admin}/health`, 60_000, server);
  await waitHttp(`http://127.0.0.1:${ingressPort}/restate/health`, 60_000, server);

  const env = { MODEL_BASE_URL: setup.modelBaseUrl, TOOL_LOG: setup.toolLog, SVC_PORT: String(svcPort) };
  let service: ChildProcess | undefined;
  const startWorker = async (): Promise<void> => {
    service = await spawnTs(__filename, ['service'], env);
  };
  await startWorker();
  await postJson(`${admin}/deployments`, { uri: `http://127.0.0.1:${svcPort}` });

  const ingress = clients.connect({ url: `http://127.0.0.1:${ingressPort}` });
  const wf = (id: string) => ingress.workflowClient<SessionWorkflow>({ name: 'session' }, id);

  /** Sessions whose workflow state says they wait on the approval promise (Restate's SQL introspection over its own tables). */
  const parkedCount = async (prefix: string): Promise<number> => {
    const res = await fetch(`${admin}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        query: `SELECT count(*) AS n FROM state WHERE service_name = 'session' AND key = 'status' AND service_key LIKE '${prefix}%' AND value_utf8 LIKE '%awaiting_approval%'`,
      }),
    });
    if (!res.ok) throw new Error(`restate query -> ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { rows: Array<{ n: number }> };
    return Number(body.rows[0]?.n ?? 0);
  };

  return {
    name: 'restate',
    pids: async () => ({ server: server.pid!, workers: [service!.pid!] }),
    async runSessions(ids, steps) {
      for (const id of ids) {
        await wf(id).workflowSubmit({ task: benchTask(id, steps, false) });
        await wf(id).workflowAttach();
      }
    },
    async startParked(ids, concurrency) {
      await pool(ids, concurrency, async (id) => {
        await wf(id).workflowSubmit({ task: benchTask(id, 0, true) });
      });
      // All ids of one batch share their prefix up to the last '-'.
      const prefix = ids[0].slice(0, ids[0].lastIndexOf('-') + 1);
      const deadline = Date.now() + 30 * 60_000;
      while ((await parkedCount(prefix)) < ids.length) {
        if (Date.now() > deadline) throw new Error('restate: sessions not parked in time');
        await sleep(50);
      }
    },
    async approve(ids, concurrency) {
      const sent: Record<string, number> = {};
      await pool(ids, concurrency, async (id) => {
        sent[id] = epochMs();
        await wf(id).approve({ approved: true });
      });
      return sent;
    },
    async waitDone(ids, timeoutMs) {
      let done = 0;
      const deadline = Date.now() + timeoutMs;
      await pool(ids, 50, async (id) => {
        const left = deadline - Date.now();
        if (left <= 0) return;
        const r = await Promise.race([wf(id).workflowAttach().then(() => true), sleep(left).then(() => false)]).catch(() => false);
        if (r) done++;
      });
      return done;
    },
    async killWorker() {
      await killHard(service);
    },
    startWorker,
    async close() {
      await killHard(service);
      await killHard(server);
    },
  };
}

if (process.argv[2] === 'service') {
  runService().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv[2] === 'driver') {
  serveDriver(createDriver);
}
