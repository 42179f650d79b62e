/**
 * Delegation overhead per child: the same session shape three ways, interleaved in one run so that drift on
 * a shared machine hits all alike. Each step is the gap between a parent's consecutive model requests at the
 * scripted model server (0 ms model latency):
 *   - direct: the parent's tool call is a trivial local tool (`lookup_fact`);
 *   - delegated: the call is `delegate_to_calculator`, whose child session answers with one model call;
 *   - parallel: two such calls in one turn (two children, joined).
 * The overhead per child is the delegated step minus the direct step of the same round and step (paired), and
 * is split at the child's model request: start (the parent's turn recorded, the child workflow started, its
 * first task and describeAgent) and finish (the child completes, the parent's task resumes).
 * Part of `npm run bench`; alone: `npm run bench -- --delegation [--quick]` or `npx tsx examples/bench/delegation.ts [--quick]`.
 * Results go to their own marked section of examples/bench/RESULTS.md (kept when the main bench rewrites the file).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSession } from 'agent-runtime/client';
import { createHarness, type Harness } from '../../test/support/harness';
import { writeWorkflowBundle } from '../../test/support/paths';
import type { ChatRequest } from 'agent-runtime/testing';
import type { BenchRow } from './run';

const START = '<!-- delegation:start -->';
const END = '<!-- delegation:end -->';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

const row = (name: string, samples: number[], note?: string): BenchRow => ({ name, n: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), ...(note ? { note } : {}) });
const text = (m: { content?: unknown } | undefined): string => (typeof m?.content === 'string' ? m.content : '');
const taskOf = (req: ChatRequest): string => text(req.messages.find((m) => m.role === 'user'));

type Kind = 'direct' | 'delegated' | 'parallel';

export interface DelegationBench {
  rows: BenchRow[];
  /** 1-minute load average before and after (2 cores: above 2 means work was queued). */
  load: [number, number];
}

/** `rounds` rounds of one session of each kind, `steps` steps each. */
export async function benchDelegation(h: Harness, opts: { rounds: number; steps: number }): Promise<DelegationBench> {
  const { steps } = opts;
  h.model.setScript((req) => {
    const task = taskOf(req);
    if (task.startsWith('child ')) return { content: 'ok' };
    const done = req.messages.filter((m) => m.role === 'tool').length;
    const kind = task.split(' ')[1] as Kind;
    const step = kind === 'parallel' ? done / 2 : done;
    if (step >= steps) return { content: 'done' };
    if (kind === 'direct') return { toolCalls: [{ name: 'lookup_fact', arguments: { topic: 'x' } }] };
    const child = (suffix: string) => ({ name: 'delegate_to_calculator', arguments: { task: `child ${task} ${step}${suffix}` } });
    return { toolCalls: kind === 'delegated' ? [child('')] : [child(' a'), child(' b')] };
  });
  const load0 = os.loadavg()[0];
  const gaps: Record<Kind, number[][]> = { direct: [], delegated: [], parallel: [] };
  const start: number[] = [];
  const finish: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    for (const kind of ['direct', 'delegated', 'parallel'] as const) {
      const task = `bench ${kind} round ${r} ${Date.now()}`;
      const from = h.model.requests.length;
      const s = await startSession(h.client, { agent: 'delegator', task }, h.config);
      const result = await s.handle.result();
      if (result.finalAnswer !== 'done') throw new Error(`${kind} session ${s.sessionId} ended with ${JSON.stringify(result)}`);
      const times = (pred: (t: string) => boolean): number[] =>
        h.model.requests.map((req, i) => ({ req, i })).filter(({ req, i }) => i >= from && pred(taskOf(req))).map(({ i }) => h.model.requestTimes[i]);
      const parent = times((t) => t === task);
      const perStep = parent.slice(1).map((t, i) => t - parent[i]);
      gaps[kind].push(perStep);
      if (kind === 'delegated') {
        for (let i = 0; i < steps; i++) {
          const [child] = times((t) => t === `child ${task} ${i}`);
          start.push(child - parent[i]);
          finish.push(parent[i + 1] - child);
        }
      }
    }
  }
  const flat = (k: Kind): number[] => gaps[k].flat();
  // Paired by round and step: the same position in sessions run back to back.
  const paired = (k: Kind, children: number): number[] => gaps[k].flatMap((g, r) => g.map((ms, i) => (ms - gaps.direct[r][i]) / children));
  const note = `${opts.rounds} rounds x ${steps} steps, interleaved`;
  return {
    load: [load0, os.loadavg()[0]],
    rows: [
      row('direct step: model call + a trivial local tool (lookup_fact)', flat('direct'), note),
      row('delegated step: model call + one child session answering with one model call', flat('delegated'), note),
      row('delegation overhead per child: delegated step - direct step', paired('delegated', 1), 'paired by round and step'),
      row("  of which: parent's model request -> child's model request (child start, describeAgent)", start, "split at the child's request"),
      row("  of which: child's model request -> parent's next model request (child completes, parent resumes)", finish, "split at the child's request"),
      row('parallel step: model call + two child sessions in one turn, joined', flat('parallel'), note),
      row('delegation overhead per child, two in parallel: (parallel step - direct step) / 2', paired('parallel', 2), 'paired by round and step'),
    ],
  };
}

export function writeDelegationSection(bench: DelegationBench, file = RESULTS_FILE): void {
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const md = [
    START,
    '### Sub-agents: delegation overhead per child',
    '',
    `Measured on ${new Date().toISOString()} (${os.cpus().length} cores, Node ${process.version}): real dev server, scripted model over HTTP (0 ms latency), SQLite store, one worker.`,
    `Machine load (1-min average) ${bench.load[0].toFixed(2)} before, ${bench.load[1].toFixed(2)} after; the machine is shared with other work, so absolute figures vary between runs, the interleaved comparison less.`,
    'A step is the gap between the parent session\'s consecutive model requests; the child\'s own work is one scripted model call, so the overhead is what a child session costs beyond the work it does.',
    '',
    '| measurement | n | p50 (ms) | p99 (ms) | note |',
    '|---|---:|---:|---:|---|',
    ...bench.rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.note ?? ''} |`),
    END,
  ].join('\n');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const i = current.indexOf(START);
  const j = current.indexOf(END);
  writeFileSync(file, i >= 0 && j > i ? current.slice(0, i) + md + current.slice(j + END.length) : `${current.trimEnd()}\n\n${md}\n`);
}

/** Its own harness (dev server, worker), the workload, the section written. */
export async function runDelegationBench(quick: boolean): Promise<DelegationBench> {
  await writeWorkflowBundle();
  const h = await createHarness();
  await h.startWorker();
  try {
    const bench = await benchDelegation(h, quick ? { rounds: 3, steps: 10 } : { rounds: 8, steps: 20 });
    writeDelegationSection(bench);
    return bench;
  } finally {
    await h.close();
  }
}

if (require.main === module) {
  runDelegationBench(process.argv.includes('--quick'))
    .then((b) => console.log(b))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
