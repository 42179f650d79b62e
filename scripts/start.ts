/**
 * `npm start`: the main job. Brings up the embedded Temporal dev server and a worker, then runs the
 * application-processing agent until it pauses for a human approval and finishes.
 *   npm start                    waits for you to approve from another terminal
 *   npm start -- --auto-approve  approves from a separate process (unattended, CI)
 *   npm start -- --demo research the research agent: findings noted in one session, recalled in the next
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { demoAgents } from '../examples/agents';
import type { Client } from '@temporalio/client';
import { applicationScript } from '../examples/agents/application/script';
import { FOLLOW_UP_QUESTION, RESEARCH_QUESTION, researchScript } from '../examples/agents/research/script';
import { LOCAL_EMBEDDING_MODEL, startLocalEmbeddingServer, type LocalEmbeddingServer, type MemoryStore } from '../memory';
import { openOutbox, sentDecisions } from '../examples/agents/application/outbox';
import { connectClient, startSession, waitForState } from '../client/sessions';
import { loadDemoConfig, type RuntimeConfig } from '../runtime/config';
import { startScriptedModelServer, type ScriptedModelServer } from '../runtime/scripted-model';
import { ensureTemporal, installedTemporalCli, PROJECT_ROOT } from '../runtime/temporal-server';
import { checkSandbox, sandboxMode } from '../sandbox';
import { createAgentWorker } from '../workers/worker';

async function run(): Promise<void> {
  const opts = new Command('start')
    .option('--auto-approve', 'approve from a separate process instead of waiting for you')
    .option('--applicant <id>', 'which fixture applicant to process', 'A-1001')
    .option('--stop-server', 'stop the Temporal dev server at the end if this run started it')
    .option('--demo <name>', "which demo: 'application' (approval) or 'research' (memory across sessions)", 'application')
    .option('--port <n>', 'gRPC port of the Temporal dev server to start or reuse (default 7233; ignored when TEMPORAL_ADDRESS is set)', portNumber)
    .option('--ui-port <n>', 'Web UI port (default: port + 1000)', portNumber)
    .parse()
    .opts<{ autoApprove?: boolean; applicant: string; stopServer?: boolean; demo: string; port?: number; uiPort?: number }>();
  if (!['application', 'research'].includes(opts.demo)) throw new Error(`unknown demo '${opts.demo}': use application or research`);
  const t0 = Date.now();
  // Keep the demo's output readable: SDK logs at WARN and above (the worker entry point logs INFO).
  Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as 'WARN' | undefined) ?? 'WARN') });

  const server = await ensureTemporal({ verbose: true, ...(opts.port ? { port: opts.port } : {}), ...(opts.uiPort ? { uiPort: opts.uiPort } : {}) });
  process.env.TEMPORAL_ADDRESS = server.address;
  // Links printed below (and by the client) point at the UI of this server, whichever port it has.
  if (server.uiUrl && !process.env.WEB_UI_URL) process.env.WEB_UI_URL = server.uiUrl;
  console.log(`Temporal: ${server.address}${server.started ? ' (dev server started, state in .data/)' : ' (reusing running server)'}`);
  if (server.uiUrl) console.log(`Web UI:   ${server.uiUrl}`);

  let model: ScriptedModelServer | undefined;
  if (!process.env.OPENAI_API_KEY) {
    model = await startScriptedModelServer(opts.demo === 'research' ? researchScript : applicationScript);
    process.env.OPENAI_BASE_URL = model.baseUrl;
    // Name the model for what it is, so the Web UI's activity summaries say so too.
    process.env.AGENT_MODEL ??= 'scripted-model';
    // A script costs nothing: price it at 0 explicitly (unpriced models stop the worker, runtime/pricing.ts).
    process.env.MODEL_PRICES_JSON ??= JSON.stringify({ [process.env.AGENT_MODEL]: { input: 0, output: 0 } });
    console.log(`Model:    no OPENAI_API_KEY set, so this demo uses the project's SCRIPTED MODEL SERVER at ${model.baseUrl}`);
    console.log(`          (a local HTTP server speaking the OpenAI ${process.env.MODEL_API === 'responses' ? 'Responses API' : 'Chat Completions protocol'}, answering from a script - not a real model)`);
  } else {
    console.log(`Model:    ${process.env.AGENT_MODEL ?? 'gpt-4.1-mini'} at ${process.env.OPENAI_BASE_URL ?? 'api.openai.com'}`);
  }

  // Hybrid memory search with the project's local embedding model: start its server when asked for it
  // (EMBEDDING_MODEL=all-MiniLM-L6-v2) and no other endpoint is named.
  let embeddings: LocalEmbeddingServer | undefined;
  if (process.env.EMBEDDING_MODEL === LOCAL_EMBEDDING_MODEL && !process.env.EMBEDDING_BASE_URL) {
    embeddings = await startLocalEmbeddingServer();
    process.env.EMBEDDING_BASE_URL = embeddings.baseURL;
  }
  if (process.env.EMBEDDING_MODEL) {
    console.log(`Memory:   hybrid search, embeddings from ${process.env.EMBEDDING_MODEL} at ${process.env.EMBEDDING_BASE_URL ?? process.env.OPENAI_BASE_URL ?? 'api.openai.com'}`);
  } else {
    console.log(`Memory:   lexical search (set EMBEDDING_MODEL=${LOCAL_EMBEDDING_MODEL} for hybrid search with the local model)`);
  }

  const config = loadDemoConfig();
  const worker = await createAgentWorker(demoAgents, config);
  console.log(`Worker:   polling '${config.TASK_QUEUE}'`);
  const sandbox = await checkSandbox();
  console.log(
    sandbox.ok
      ? `Sandbox:  ${sandboxMode() === 'none' ? 'NONE (SANDBOX=none: tools run unsandboxed, flagged on every session)' : sandboxMode() === 'bubblewrap' ? 'bubblewrap' : `${sandboxMode()} (SANDBOX_ALLOW_DEGRADED: less isolation, flagged on every session)`}`
      : `Sandbox:  UNAVAILABLE - ${sandbox.reason}. Sandboxed tools will fail and the agent will adapt. Fix: ${sandbox.fix}`,
  );
  const client = await connectClient(config);
  const finishUp = async (): Promise<void> => {
    console.log(`\nnpm start finished in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
    await worker.shutdown();
    await client.connection.close();
    await model?.close();
    await embeddings?.stop();
    if (server.started && (opts.stopServer || opts.autoApprove)) {
      await server.stop();
      console.log('Temporal dev server stopped.');
    } else if (server.started) {
      console.log(`The Temporal dev server keeps running (pid ${server.pid}) so you can browse the Web UI; stop it with: kill ${server.pid}`);
    }
  };
  if (opts.demo === 'research') {
    await runResearchDemo(client, config, worker.memory);
    return finishUp();
  }

  const task = `Process the loan application of applicant ${opts.applicant}.`;
  const session = await startSession(client, { agent: 'application-processor', task, userId: 'demo-user' }, config);
  console.log(`\nSession ${session.sessionId} started: "${task}"`);
  console.log(`  ${session.webUi}\n`);

  const paused = await waitForState(client, session.sessionId, (s) => s.status !== 'running', { timeoutMs: 120_000 });
  for (const entry of paused.transcript) {
    if (entry.role === 'tool') console.log(`  tool ${entry.tool}: ${entry.text?.slice(0, 110)}`);
    if (entry.role === 'assistant' && entry.text) console.log(`  model: ${entry.text}`);
  }
  if (paused.status === 'awaiting_approval') {
    const a = paused.pendingApprovals[0];
    console.log(`\nPAUSED: waiting for a human to approve ${a.tool}(${JSON.stringify(a.args)})`);
    console.log(`  approval id: ${a.approvalId}   reason: ${a.reason}`);
    // Commands that paste as they are: absolute paths, this server's address, the approver is your login name.
    console.log('\nApprove it from another terminal with either:');
    console.log(`  ${approveCommand(server.address, session.sessionId, a.approvalId)}`);
    console.log(`      (reject: replace approve with reject and add --comment "why")`);
    // Only name a CLI that is already there: printing a hint must not install anything.
    const installed = installedTemporalCli();
    if (installed) console.log(`  ${temporalSignalCommand(installed, server.address, session.sessionId, a.approvalId, a.argsHash)}`);

    if (opts.autoApprove) {
      console.log('\n--auto-approve: approving from a separate process...');
      const t = Date.now();
      await new Promise<void>((resolve, reject) => {
        // The command printed above, run by a shell exactly as a user would paste it (plus a comment).
        const child = spawn('sh', ['-c', `${approveCommand(server.address, session.sessionId, a.approvalId)} --comment 'approved by npm start --auto-approve'`], {
          stdio: 'inherit',
          env: { ...process.env, AGENTCTL_APPROVER: 'auto-approver' },
        });
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`approve process exited ${code}`))));
      });
      console.log(`  (approval process took ${Date.now() - t} ms)`);
    } else {
      console.log('\nWaiting for the decision (Ctrl-C leaves the session paused; it resumes whenever a worker runs)...');
    }
  }

  const result = await session.handle.result();
  const final = await waitForState(client, session.sessionId, () => true);
  const decided = final.approvals.map((a) => `${a.tool}: ${a.status}${a.approver ? ` by ${a.approver}` : ''}${a.comment ? ` (${a.comment})` : ''}`);
  console.log(`\nSession ${result.status} after ${result.steps} model steps, ${result.usage.totalTokens} tokens.`);
  if (decided.length) console.log(`Approvals: ${decided.join('; ')}`);
  console.log(`Final answer: ${result.finalAnswer}`);
  const outbox = openOutbox();
  const sent = sentDecisions(outbox, session.sessionId);
  outbox.close();
  console.log(`Outbox: ${sent.length} decision(s) sent for this session${sent.length ? ` (${sent.map((s) => `${s.applicantId} ${s.decision}`).join(', ')})` : ''}.`);
  console.log(`Inspect the session: ${session.webUi}`);
  await finishUp();
}

/**
 * The research agent over two sessions of one user: session 1 studies a question and notes findings to
 * memory; session 2 answers a follow-up from what was recalled, without re-reading the sources.
 */
async function runResearchDemo(client: Client, config: RuntimeConfig, memory: MemoryStore): Promise<void> {
  // A fresh user per run, so the first session really starts with an empty memory.
  const userId = `researcher-${Date.now().toString(36)}`;
  for (const [label, question] of [['Session 1', RESEARCH_QUESTION], ['Session 2 (a later session, same user)', FOLLOW_UP_QUESTION]] as const) {
    const s = await startSession(client, { agent: 'research-assistant', task: question, userId }, config);
    console.log(`\n${label}: ${s.sessionId}  (user ${userId})\n  Q: ${question}\n  ${s.webUi}`);
    const result = await s.handle.result();
    const st = await waitForState(client, s.sessionId, () => true);
    const recalled = st.transcript.find((e) => e.kind === 'memory');
    console.log(recalled ? `  recalled at start:\n${indent(recalled.text ?? '', 4)}` : '  recalled at start: nothing (empty memory)');
    const calls = st.transcript.flatMap((e) => e.toolCalls ?? []);
    console.log(`  tool calls: ${calls.length ? calls.map((c) => `${c.name}(${JSON.stringify(c.args).slice(0, 60)})`).join(', ') : 'none - answered from memory'}`);
    console.log(`  answer (${result.steps} model steps, ${result.usage.totalTokens} tokens):\n${indent(result.finalAnswer ?? '', 4)}`);
  }
  const records = await memory.list(`user/${userId}`);
  console.log(`\nMemory of user/${userId}: ${records.length} records`);
  for (const r of records) console.log(`  ${r.kind.padEnd(8)} ${r.id}  from ${r.provenance.sessionId} step ${r.provenance.step ?? '-'}: ${r.text.slice(0, 90)}`);
}

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`a port is a number from 1 to 65535, got '${v}'`);
  return n;
}

/** agentctl by its absolute path (works from any directory), deciding as the login user. */
function approveCommand(address: string, sessionId: string, approvalId: string): string {
  return `${path.join(PROJECT_ROOT, 'bin', 'agentctl')} --address ${address} approve ${sessionId} --approval-id ${approvalId}`;
}

/** The same decision as a raw signal with the Temporal CLI; the approver is filled in by the shell (id -un). */
function temporalSignalCommand(cli: string, address: string, sessionId: string, approvalId: string, argsHash: string): string {
  const input = `'{"approvalId":"${approvalId}","decision":"approve","approver":"'"$(id -un)"'","argsHash":"${argsHash}"}'`;
  return `${path.resolve(cli)} workflow signal --address ${address} --workflow-id ${sessionId} --name approval --input ${input}`;
}

function indent(text: string, n: number): string {
  return text.split('\n').map((l) => ' '.repeat(n) + l).join('\n');
}

run().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
