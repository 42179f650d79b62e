/**
 * LangGraph-JS peer: the same agent loop as a StateGraph (model node -> tools node -> model ...), checkpointed
 * by SqliteSaver on a file with durability 'sync' (a checkpoint is written before the next step starts).
 * The approval is `interrupt()` in the tools node; the decision resumes it with `Command({ resume })`.
 *
 * Two processes, so that CPU/RSS are separable and SIGKILL is real:
 *   `langgraph.ts driver` - forked by the orchestrator, speaks the SystemDriver protocol over IPC, plays the client;
 *   `langgraph.ts worker` - holds the graph and serves POST /start and POST /resume on 127.0.0.1 (what a LangGraph app is).
 * Variant `full`: the same with `PRAGMA synchronous=FULL` (SqliteSaver's WAL commits do not fsync by default).
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { Annotation, Command, END, START, StateGraph, interrupt } from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import type OpenAI from 'openai';
import { freePort, killHard, logToolStart, MODEL, openaiClient, pool, postJson, serveDriver, spawnTs } from './common';
import { BENCH_INSTRUCTIONS, BENCH_TOOLS, benchTask, epochMs, type DriverSetup, type SystemDriver } from './protocol';

type Message = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ToolCall = OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;

const State = Annotation.Root({
  sessionId: Annotation<string>(),
  messages: Annotation<Message[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
});

function buildGraph(openai: OpenAI, toolLog: string, checkpointer: SqliteSaver) {
  return new StateGraph(State)
    .addNode('model', async (s) => {
      const res = await openai.chat.completions.create({ model: MODEL, messages: s.messages, tools: BENCH_TOOLS });
      const m = res.choices[0].message;
      const assistant: Message = { role: 'assistant', content: m.content, ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}) };
      return { messages: [assistant] };
    })
    .addNode('tools', (s) => {
      const last = s.messages[s.messages.length - 1] as OpenAI.Chat.Completions.ChatCompletionAssistantMessageParam;
      const out: Message[] = [];
      for (const call of (last.tool_calls ?? []) as ToolCall[]) {
        if (call.function.name === 'approved_action') {
          // Pauses the run here; on resume the node runs again from its start and interrupt() returns the decision.
          const decision = interrupt({ tool: call.function.name, arguments: call.function.arguments }) as { approved: boolean };
          if (!decision.approved) {
            out.push({ role: 'tool', tool_call_id: call.id, content: 'denied' });
            continue;
          }
          logToolStart(toolLog, s.sessionId, 'approved_action');
          out.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ done: true }) });
        } else {
          const args = JSON.parse(call.function.arguments) as { i: number };
          out.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ ok: true, i: args.i }) });
        }
      }
      return { messages: out };
    })
    .addEdge(START, 'model')
    .addConditionalEdges('model', (s) => {
      const last = s.messages[s.messages.length - 1] as OpenAI.Chat.Completions.ChatCompletionAssistantMessageParam;
      return last.tool_calls?.length ? 'tools' : END;
    })
    .addEdge('tools', 'model')
    .compile({ checkpointer });
}

async function readJson<T>(req: IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

async function runWorker(): Promise<void> {
  const env = process.env as Record<string, string>;
  const checkpointer = SqliteSaver.fromConnString(env.LG_DB_FILE);
  if (env.LG_VARIANT === 'full') {
    // SqliteSaver sets WAL on first use; FULL makes every commit fsync, like the other systems' durable writes.
    (checkpointer as unknown as { db: { pragma(s: string): unknown } }).db.pragma('synchronous = FULL');
  }
  const graph = buildGraph(openaiClient(env.MODEL_BASE_URL), env.TOOL_LOG, checkpointer);
  // recursionLimit counts supersteps (two per agent step); the default 25 would stop a 50-step session.
  const cfg = (id: string) => ({ configurable: { thread_id: id }, durability: 'sync' as const, recursionLimit: 100_000 });
  const server = createServer((req, res) => {
    void (async () => {
      try {
        let state: Record<string, unknown>;
        if (req.url === '/start') {
          const b = await readJson<{ id: string; task: string }>(req);
          state = await graph.invoke(
            { sessionId: b.id, messages: [{ role: 'system', content: BENCH_INSTRUCTIONS }, { role: 'user', content: b.task }] },
            cfg(b.id),
          );
        } else if (req.url === '/resume') {
          const b = await readJson<{ id: string; approved: boolean }>(req);
          state = await graph.invoke(new Command({ resume: { approved: b.approved } }), cfg(b.id));
        } else {
          res.writeHead(404).end();
          return;
        }
        const parked = Array.isArray(state.__interrupt__) && state.__interrupt__.length > 0;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ parked }));
      } catch (err) {
        res.writeHead(500).end(String(err instanceof Error ? err.stack : err));
      }
    })();
  });
  await new Promise<void>((r) => server.listen(Number(env.LG_PORT), '127.0.0.1', r));
  process.stdout.write('READY\n');
}

async function createDriver(setup: DriverSetup): Promise<SystemDriver> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    MODEL_BASE_URL: setup.modelBaseUrl,
    TOOL_LOG: setup.toolLog,
    LG_DB_FILE: path.join(setup.dir, 'checkpoints.sqlite'),
    LG_PORT: String(port),
    LG_VARIANT: setup.variant ?? '',
  };
  let worker: ChildProcess | undefined;
  const startWorker = async (): Promise<void> => {
    worker = await spawnTs(__filename, ['worker'], env);
  };
  await startWorker();
  const pending = new Map<string, Promise<{ parked: boolean }>>();
  const name = setup.variant === 'full' ? 'langgraph-full' : 'langgraph';
  return {
    name,
    pids: async () => ({ workers: [worker!.pid!] }),
    async runSessions(ids, steps) {
      for (const id of ids) {
        const r = await postJson<{ parked: boolean }>(`${base}/start`, { id, task: benchTask(id, steps, false) });
        if (r.parked) throw new Error(`${id}: parked without an approval-gated call`);
      }
    },
    async startParked(ids, concurrency) {
      // invoke() returns once the run stopped at interrupt() with its checkpoint written: the session is parked.
      await pool(ids, concurrency, async (id) => {
        const r = await postJson<{ parked: boolean }>(`${base}/start`, { id, task: benchTask(id, 0, true) });
        if (!r.parked) throw new Error(`${id}: finished without parking`);
      });
    },
    async approve(ids, concurrency) {
      const sent: Record<string, number> = {};
      await pool(ids, concurrency, async (id) => {
        sent[id] = epochMs();
        const p = postJson<{ parked: boolean }>(`${base}/resume`, { id, approved: true });
        pending.set(id, p);
        await p.catch(() => undefined);
      });
      return sent;
    },
    async waitDone(ids) {
      let done = 0;
      for (const id of ids) {
        const r = await pending.get(id)?.catch(() => undefined);
        if (r && !r.parked) done++;
        pending.delete(id);
      }
      return done;
    },
    async killWorker() {
      await killHard(worker);
    },
    startWorker,
    async close() {
      await killHard(worker);
    },
  };
}

if (process.argv[2] === 'worker') {
  runWorker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else if (process.argv[2] === 'driver') {
  serveDriver(createDriver);
}
