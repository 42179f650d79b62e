/**
 * `npm run bench`: measures the runtime on real parts (dev server, scripted model over HTTP, SQLite,
 * bubblewrap) and writes examples/bench/RESULTS.md. Baselines are measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { applicationScript } from '../agents/application/script';
import { decideApproval, signalApproval, startSession, waitForState } from 'agent-runtime/client';
import { createHarness, STACK_LABEL, type Harness } from '../../test/support/harness';
import { writeWorkflowBundle } from '../../test/support/paths';
import { demoAgents } from '../agents';
import { testAgents } from '../../test/support/agents';
import { createAgentWorker } from 'agent-runtime/worker';
import { benchFork, writeForkSection } from './fork';
import { benchSnapshots, writeSnapshotSection } from './snapshots';
import { benchDelegation, runDelegationBench, writeDelegationSection } from './delegation';
import { percentile, row, type BenchRow } from './stats';

// peers.ts and older callers import these from here.
export { percentile, row, type BenchRow };

/** The repository root, where `npm start` runs the demo. */
const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function eventMs(e: HistoryEvent): number {
  const t = e.eventTime!;
  return Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;
}

function scheduledTimes(events: HistoryEvent[], activityType: string): number[] {
  return events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType).map(eventMs);
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]);
}

/**
 * Per agent step (model call + tool call + the workflow's bookkeeping between them): the gaps between a
 * session's consecutive requests at the scripted model server, so the figure means the same whatever
 * the step's shape in history (local or regular activities).
 */
async function benchSteps(h: Harness, agent: string, steps: number, sessions: number, config = h.config): Promise<number[]> {
  h.model.setScript((req) => {
    const calls = req.messages.filter((m) => m.role === 'tool').length;
    return calls < steps ? { toolCalls: [{ name: 'add', arguments: { a: calls, b: 1 } }] } : { content: `done after ${calls} steps` };
  });
  const samples: number[] = [];
  for (let i = 0; i < sessions; i++) {
    const from = h.model.requestTimes.length;
    const s = await startSession(h.client, { agent, task: 'count' }, config);
    await s.handle.result();
    samples.push(...gaps(h.model.requestTimes.slice(from)));
  }
  return samples;
}

/** CPU seconds of a process (utime + stime from /proc), or NaN where /proc is not there. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return NaN;
  }
}

/** CPU seconds per 1,000 steps: this process (worker + client) and the dev server, over `steps` steps. */
async function benchCpu(h: Harness, agent: string, steps: number, config = h.config): Promise<{ worker: number; server: number }> {
  const w0 = process.cpuUsage();
  const s0 = cpuSeconds(h.server.pid);
  await benchSteps(h, agent, steps, 1, config);
  const w = process.cpuUsage(w0);
  const perThousand = 1000 / steps;
  return { worker: ((w.user + w.system) / 1e6) * perThousand, server: (cpuSeconds(h.server.pid) - s0) * perThousand };
}

async function benchBaselineSteps(h: Harness, steps: number, runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    // By name: benchBaseline (workflows/baseline.ts) is in the runtime's workflow bundle but not a public export.
    const handle = await h.client.workflow.start('benchBaseline', { taskQueue: h.config.TASK_QUEUE, workflowId: `bench-baseline-${Date.now()}-${i}`, args: [steps] });
    await handle.result();
    const events = (await handle.fetchHistory()).events ?? [];
    // One baseline step = two no-op activities; measure between the first activity of consecutive steps.
    samples.push(...gaps(scheduledTimes(events, 'noop').filter((_, j) => j % 2 === 0)));
  }
  return samples;
}

async function pausedSessions(h: Harness, count: number): Promise<Array<{ sessionId: string; approvalId: string }>> {
  h.model.setScript(applicationScript);
  const started = await Promise.all(
    Array.from({ length: count }, () => startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config)),
  );
  const out: Array<{ sessionId: string; approvalId: string }> = [];
  for (const s of started) {
    const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval', { timeoutMs: 120_000 });
    out.push({ sessionId: s.sessionId, approvalId: st.pendingApprovals[0].approvalId });
  }
  return out;
}

/** Signal sent -> the approved tool starts (the tool writes its own start time to the outbox; same clock). */
async function benchApprovalResume(h: Harness, count: number): Promise<{ resume: number[]; rpc: number[] }> {
  const paused = await pausedSessions(h, count);
  const resume: number[] = [];
  const rpc: number[] = [];
  for (const p of paused) {
    const sentAt = Date.now();
    const t0 = performance.now();
    await signalApproval(h.client, p.sessionId, { approvalId: p.approvalId, decision: 'approve', approver: 'bench' });
    rpc.push(performance.now() - t0);
    await h.client.workflow.getHandle(p.sessionId).result();
    const [sent] = h.sent(p.sessionId);
    resume.push(Date.parse(sent.sentAt) - sentAt);
  }
  return { resume, rpc };
}

async function benchUpdateRoundTrip(h: Harness, count: number): Promise<number[]> {
  const paused = await pausedSessions(h, count);
  const samples: number[] = [];
  for (const p of paused) {
    const t0 = performance.now();
    await decideApproval(h.client, p.sessionId, { approvalId: p.approvalId, decision: 'approve', approver: 'bench' });
    samples.push(performance.now() - t0);
  }
  await Promise.all(paused.map((p) => h.client.workflow.getHandle(p.sessionId).result()));
  return samples;
}

/** Includes starting the dev server unless one is already running on 7233 (then it is reused, as npm start does). */
function benchNpmStart(runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const env = { ...process.env };
    delete env.OPENAI_API_KEY; // the offline demo: scripted model server
    const r = spawnSync('npm', ['start', '--', '--auto-approve'], { cwd: PROJECT_ROOT, encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`npm start failed:\n${r.stdout}\n${r.stderr}`);
    samples.push(performance.now() - t0);
  }
  return samples;
}

function ratio(name: string, a: number[], b: number[]): BenchRow {
  return { name, n: a.length, p50Ms: percentile(a, 50) / percentile(b, 50), p99Ms: percentile(a, 99) / percentile(b, 99), note: 'ratio, not ms' };
}

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');

/**
 * Sections other benches write between `<!-- name:start -->` and `<!-- name:end -->` markers (peers,
 * memory quality, production stack) survive this bench's rewrite of the file.
 */
export function markedSections(file = RESULTS_FILE): string {
  if (!existsSync(file)) return '';
  const current = readFileSync(file, 'utf8');
  const sections = [...current.matchAll(/<!-- ([a-z0-9-]+):start -->[\s\S]*?<!-- \1:end -->/g)].map((m) => m[0]);
  return sections.length ? `\n${sections.join('\n\n')}\n` : '';
}

function table(rows: BenchRow[]): string {
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  return [
    '| measurement | n | p50 (ms) | p99 (ms) | note |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.note ?? ''} |`),
  ].join('\n');
}

/** Step (agent and bare baseline) and approval figures on one harness; `label` tags the rows with the server. */
async function measureCore(h: Harness, quick: boolean, label: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // Interleaved, so that drift on a shared machine affects all three alike.
  const steps: number[] = [];
  const threaded: number[] = [];
  const regular: number[] = [];
  const base: number[] = [];
  // A second worker, on its own task queue, runs workflows on the SDK's threaded executor (the default before
  // WORKFLOW_EXECUTOR=inline); the harness's worker runs the default.
  const threadedConfig = { ...h.config, WORKFLOW_EXECUTOR: 'threaded' as const, TASK_QUEUE: `${h.config.TASK_QUEUE}-threaded` };
  const threadedWorker = await createAgentWorker((deps) => [...demoAgents(deps), ...testAgents(deps)], threadedConfig);
  try {
    for (let i = 0; i < (quick ? 2 : 6); i++) {
      steps.push(...(await benchSteps(h, 'calculator', quick ? 20 : 50, 1)));
      threaded.push(...(await benchSteps(h, 'calculator', quick ? 20 : 50, 1, threadedConfig)));
      regular.push(...(await benchSteps(h, 'calculator-activities', quick ? 20 : 50, 1)));
      base.push(...(await benchBaselineSteps(h, quick ? 20 : 50, 1)));
    }
    const cpu = await benchCpu(h, 'calculator', quick ? 100 : 500, threadedConfig);
    rows.push({ name: `CPU seconds per 1,000 steps, local activities, threaded workflow executor: worker+client / server${label}`, n: quick ? 100 : 500, p50Ms: cpu.worker, p99Ms: cpu.server, note: 'columns: worker+client s, server s' });
  } finally {
    await threadedWorker.shutdown();
  }
  rows.push(row(`agent step: model call + tool call, local activities (scripted model, 0 ms latency)${label}`, steps, 'between model requests'));
  rows.push(row(`agent step, same, SDK's threaded workflow executor (WORKFLOW_EXECUTOR=threaded)${label}`, threaded, 'same run, interleaved'));
  rows.push(ratio(`agent step, inline vs threaded workflow executor (ratio)${label}`, steps, threaded));
  rows.push(row(`agent step, every call a regular activity (the shape before local steps)${label}`, regular, 'same run, interleaved'));
  rows.push(row(`baseline: bare workflow step, two no-op regular activities${label}`, base, 'server history timestamps'));
  rows.push(ratio(`agent step vs every-call-a-regular-activity step (ratio)${label}`, steps, regular));
  rows.push(ratio(`agent step vs bare two-activity workflow step (ratio)${label}`, steps, base));
  for (const [kind, agent] of [['local activities', 'calculator'], ['regular activities', 'calculator-activities']] as const) {
    const cpu = await benchCpu(h, agent, quick ? 100 : 500);
    rows.push({ name: `CPU seconds per 1,000 steps, ${kind}: worker+client / server${label}`, n: quick ? 100 : 500, p50Ms: cpu.worker, p99Ms: cpu.server, note: 'columns: worker+client s, server s' });
  }
  const { resume, rpc } = await benchApprovalResume(h, quick ? 10 : 30);
  rows.push(row(`approval signal sent -> approved tool started (tool side)${label}`, resume));
  rows.push(row(`approval signal RPC (client)${label}`, rpc));
  rows.push(row(`decideApproval Update round trip (client)${label}`, await benchUpdateRoundTrip(h, quick ? 10 : 30)));
  return rows;
}

async function run(): Promise<void> {
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--delegation')) {
    // Only the sub-agent workload (examples/bench/delegation.ts): its own section of RESULTS.md.
    console.log(await runDelegationBench(quick));
    return;
  }
  const rows: BenchRow[] = [];
  await writeWorkflowBundle();
  for (const server of process.argv.includes('--stack') ? (['dev', 'stack'] as const) : (['dev'] as const)) {
    // --stack: the same step and approval measurements again on the production stack (runtime/stack).
    const h = await createHarness([], {}, { server });
    await h.startWorker();
    try {
      rows.push(...(await measureCore(h, quick, server === 'stack' ? ` (${STACK_LABEL})` : '')));
      // Fork latency: its own section of RESULTS.md (examples/bench/fork.ts), on the dev server.
      if (server === 'dev') writeForkSection(await benchFork(h, quick ? 10 : 30));
      // Workspace snapshot cost per write step (on/off, small and ~50 MB workspaces): its own section
      // (examples/bench/snapshots.ts; alone: `npx tsx examples/bench/snapshots.ts`).
      if (server === 'dev' && !process.argv.includes('--core')) {
        const before = os.loadavg();
        const snapshotRows = await benchSnapshots(h, quick);
        writeSnapshotSection(snapshotRows, { before, after: os.loadavg() });
      }
      // Delegation overhead per child: its own section too (examples/bench/delegation.ts).
      if (server === 'dev') writeDelegationSection(await benchDelegation(h, quick ? { rounds: 3, steps: 10 } : { rounds: 8, steps: 20 }));
    } finally {
      await h.close();
    }
  }

  const sandboxBench = path.join(__dirname, 'sandbox.ts');
  if (existsSync(sandboxBench) && !process.argv.includes('--core')) {
    const { benchSandbox } = (await import(sandboxBench)) as { benchSandbox(n: number): Promise<BenchRow[]> };
    rows.push(...(await benchSandbox(quick ? 50 : 200)));
  }
  const memoryBench = path.join(__dirname, 'memory.ts');
  if (existsSync(memoryBench) && !quick && !process.argv.includes('--core')) {
    const { benchMemory } = (await import(memoryBench)) as { benchMemory(): Promise<BenchRow[]> };
    rows.push(...(await benchMemory()));
  }
  const httpBench = path.join(__dirname, 'http.ts');
  if (existsSync(httpBench) && !process.argv.includes('--core')) {
    // Writes its own marked section (kept below by markedSections()).
    const { benchHttp, writeHttpSection } = (await import(httpBench)) as typeof import('./http');
    const sessions = Number(process.argv.find((a) => a.startsWith('--http-sessions='))?.slice('--http-sessions='.length) ?? (quick ? 50 : 1000));
    writeHttpSection(await benchHttp({ sessions, resumes: Math.min(sessions, quick ? 10 : 50) }));
  }
  const longBench = path.join(__dirname, 'long.ts');
  if (existsSync(longBench) && !quick && !process.argv.includes('--core')) {
    // The 5,000-step session (LONG_STEPS to change N): history and state per step, written as the
    // file's `long` section (examples/bench/long.ts), which the rewrite below keeps.
    const { updateLongSection } = (await import(longBench)) as { updateLongSection(): Promise<string> };
    await updateLongSection();
  }
  const start = benchNpmStart(quick ? 1 : 3);
  rows.push(row('`npm start -- --auto-approve` wall time, warm machine (ms)', start, 'dev server start + worker + demo session + approval process'));

  const md = [
    '# Benchmark results',
    '',
    `Measured by \`npm run bench\` on ${new Date().toISOString()} (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}).`,
    'Real Temporal dev server (SQLite), scripted model server over HTTP through the openai client, SQLite session store.',
    'Agent steps are the gaps between a session\'s requests at the scripted model server; the bare-workflow baseline comes from server history timestamps; round trips are measured on the client.',
    ...(process.argv.includes('--stack')
      ? [`Rows marked (${STACK_LABEL}) ran on \`npm run stack\`'s server (persistence and visibility on PostgreSQL) with the PostgreSQL session store.`]
      : []),
    '',
    table(rows),
    '',
  ].join('\n');
  writeFileSync(RESULTS_FILE, md + markedSections());
  console.log(md);
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
