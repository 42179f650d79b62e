/**
 * Workspace snapshot cost (runtime/workspace-snapshots.ts), two ways:
 * - per agent step with a write tool (model call + `write_file` of a small file + the snapshot after it),
 *   on a worker with snapshots on and one with WORKSPACE_SNAPSHOTS=off, sessions interleaved; in a nearly
 *   empty workspace and in one holding ~50 MB (50 files of 1 MiB, written before the session starts);
 * - the snapshot alone (`record()`), in this process, after a small change and after no change.
 * Part of `npm run bench` (skipped with --core); alone:
 *   npx tsx examples/bench/snapshots.ts [--quick]
 * Results go to their own marked section of examples/bench/RESULTS.md, with the machine's load average.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSession } from 'agent-runtime/client';
import { createAgentWorker, openSessionWorkspace, WorkspaceSnapshots } from 'agent-runtime/worker';
import type { Harness } from '../../test/support/harness';
import { testAgents } from '../../test/support/agents';
import { demoAgents } from '../agents';
import type { BenchRow } from './run';
import { runStandalone } from './standalone';

const START = '<!-- snapshots:start -->';
const END = '<!-- snapshots:end -->';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');
const BIG_FILES = 50;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
const row = (name: string, samples: number[], note?: string): BenchRow => ({ name, n: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), ...(note ? { note } : {}) });

function fill(dir: string, files: number): void {
  for (let i = 0; i < files; i++) writeFileSync(path.join(dir, `data-${i}.bin`), randomBytes(1024 * 1024));
}

/** Durations of WorkspaceSnapshots.record() calls in this process (the bench's workers run in it), while set. */
let recordTimes: number[] | undefined;
const original = WorkspaceSnapshots.prototype.record;
WorkspaceSnapshots.prototype.record = async function timedRecord(this: WorkspaceSnapshots, ...args: Parameters<typeof original>) {
  const t0 = performance.now();
  try {
    return await original.apply(this, args);
  } finally {
    recordTimes?.push(performance.now() - t0);
  }
};

/**
 * One session of write_file steps (as many as the model script asks for): the gaps between its model
 * requests and the snapshots its tool calls took, each without the first `skip`.
 */
async function writeSteps(h: Harness, config: Harness['config'], bigFiles: number, skip: number): Promise<{ steps: number[]; snapshots: number[] }> {
  const sessionId = `bench-snap-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  if (bigFiles) fill(openSessionWorkspace(h.env.WORKSPACE_ROOT, sessionId).dir, bigFiles);
  const from = h.model.requestTimes.length;
  recordTimes = [];
  try {
    const s = await startSession(h.client, { agent: 'sandboxed', task: 'write', sessionId }, config);
    await s.handle.result();
    const times = h.model.requestTimes.slice(from);
    return { steps: times.slice(1).map((t, i) => t - times[i]).slice(skip), snapshots: recordTimes.slice(skip) };
  } finally {
    recordTimes = undefined;
  }
}

export async function benchSnapshots(h: Harness, quick: boolean): Promise<BenchRow[]> {
  const steps = quick ? 12 : 25;
  const rounds = quick ? 2 : 6;
  h.model.setScript((req) => {
    const calls = req.messages.filter((m) => m.role === 'tool').length;
    return calls < steps ? { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.txt', content: `step ${calls} `.repeat(20) } }] } : { content: `wrote ${calls} times` };
  });
  const offConfig = { ...h.config, WORKSPACE_SNAPSHOTS: 'off' as const, TASK_QUEUE: `${h.config.TASK_QUEUE}-nosnap` };
  const off = await createAgentWorker((deps) => [...demoAgents(deps), ...testAgents(deps)], offConfig);
  const samples = { smallOn: [] as number[], smallOff: [] as number[], bigOn: [] as number[], bigOff: [] as number[], smallSnap: [] as number[], bigSnap: [] as number[] };
  try {
    for (let r = 0; r < rounds; r++) {
      // The first step of a 50 MB session moves the files into the workspace's size-limited filesystem
      // (and takes the first full snapshot): left out of both columns alike.
      const smallOn = await writeSteps(h, h.config, 0, 1);
      samples.smallOn.push(...smallOn.steps);
      samples.smallSnap.push(...smallOn.snapshots);
      samples.smallOff.push(...(await writeSteps(h, offConfig, 0, 1)).steps);
      const bigOn = await writeSteps(h, h.config, BIG_FILES, 1);
      samples.bigOn.push(...bigOn.steps);
      samples.bigSnap.push(...bigOn.snapshots);
      samples.bigOff.push(...(await writeSteps(h, offConfig, BIG_FILES, 1)).steps);
    }
  } finally {
    await off.shutdown();
  }
  const rows = [
    row('write step (model + write_file), small workspace, snapshots on', samples.smallOn, 'between model requests'),
    row('write step, small workspace, snapshots off', samples.smallOff, 'same run, interleaved'),
    row('the snapshot inside each write step, small workspace', samples.smallSnap, 'record() timed in the worker'),
    row(`write step, ~${BIG_FILES} MB workspace, snapshots on`, samples.bigOn, 'first step of each session left out'),
    row(`write step, ~${BIG_FILES} MB workspace, snapshots off`, samples.bigOff, 'same run, interleaved'),
    row(`the snapshot inside each write step, ~${BIG_FILES} MB workspace`, samples.bigSnap, 'record() timed in the worker; files moved into the quota image <100 ms earlier are read again'),
  ];
  rows.push(...(await benchRecord(quick ? 20 : 60)));
  return rows;
}

/** `record()` alone on a small and a ~50 MB workspace: first snapshot, after a small change, after none. */
async function benchRecord(n: number): Promise<BenchRow[]> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bench-snapshots-'));
  const snaps = new WorkspaceSnapshots(root);
  const rows: BenchRow[] = [];
  try {
    for (const [label, files] of [['small (5 files)', 0], [`~${BIG_FILES} MB (${BIG_FILES} x 1 MiB + 5 small)`, BIG_FILES]] as const) {
      const id = `bench-${files}`;
      const dir = openSessionWorkspace(root, id).dir;
      for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `small-${i}.txt`), `file ${i}`);
      fill(dir, files);
      let t = performance.now();
      await snaps.record(id, 0);
      const first = performance.now() - t;
      const changed: number[] = [];
      const same: number[] = [];
      for (let i = 1; i <= n; i++) {
        writeFileSync(path.join(dir, 'notes.txt'), `step ${i}`);
        t = performance.now();
        await snaps.record(id, 2 * i);
        changed.push(performance.now() - t);
        t = performance.now();
        await snaps.record(id, 2 * i + 1);
        same.push(performance.now() - t);
      }
      const usage = snaps.usage(id);
      rows.push({ name: `snapshot alone, ${label}: first (every file read and stored)`, n: 1, p50Ms: first, p99Ms: first });
      rows.push(row(`snapshot alone, ${label}: after one small file changed`, changed, `${usage.snapshots} trees, ${(usage.bytes / 1048576).toFixed(1)} MiB stored`));
      rows.push(row(`snapshot alone, ${label}: nothing changed`, same, 'one log line'));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

export function writeSnapshotSection(rows: BenchRow[], load: { before: number[]; after: number[] }, file = RESULTS_FILE): void {
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const loads = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  const md = [
    START,
    '### Workspace snapshots',
    '',
    `Measured on ${new Date().toISOString()} (${os.cpus().length} cores, Node ${process.version}, workspace root on ${fsType()}): real dev server, scripted model over HTTP, SQLite store, the per-workspace ext4 quota images (so blobs are full copies: no reflinks between the image and the store).`,
    `Machine load average (1 / 5 / 15 min) before: ${loads(load.before)}, after: ${loads(load.after)} (other work ran on this machine meanwhile; compare rows of the same run).`,
    '',
    '| measurement | n | p50 (ms) | p99 (ms) | note |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.note ?? ''} |`),
    END,
  ].join('\n');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const i = current.indexOf(START);
  const j = current.indexOf(END);
  writeFileSync(file, i >= 0 && j > i ? current.slice(0, i) + md + current.slice(j + END.length) : `${current.trimEnd()}\n\n${md}\n`);
}

function fsType(): string {
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    const tmp = os.tmpdir();
    const best = mounts.filter((m) => m[1] && (tmp === m[1] || tmp.startsWith(m[1].endsWith('/') ? m[1] : `${m[1]}/`))).sort((a, b) => b[1].length - a[1].length)[0];
    return best ? best[2] : 'unknown';
  } catch {
    return 'unknown';
  }
}

if (require.main === module) {
  const before = os.loadavg();
  runStandalone(async (h) => {
    const rows = await benchSnapshots(h, process.argv.includes('--quick'));
    writeSnapshotSection(rows, { before, after: os.loadavg() });
    console.log(rows);
  });
}
