/**
 * `npm run bench:peers`: the same agent workloads on this runtime, LangGraph-JS (SqliteSaver on disk) and
 * Restate (single node), in one run, rounds interleaved round robin across systems so that drift on a shared
 * machine hits all alike. All systems call the same scripted model server over HTTP through the same `openai`
 * client version; the model server is the only stand-in. Writes a section of examples/bench/RESULTS.md between markers.
 *
 * Where each figure comes from, the same way for every system:
 *  - agent step: gaps between consecutive model requests of one session, stamped by the model server
 *    (model call + tool call + the system's bookkeeping; survives changes of activity types). For this runtime
 *    also examples/bench/run.ts's server-history method (callModel scheduled -> next callModel scheduled) when present;
 *  - CPU: utime+stime from /proc/<pid>/stat of the server and worker processes around the step rounds;
 *  - approval -> tool started: the client stamps just before sending, the approved tool stamps on entry (tool log);
 *  - RSS: VmRSS from /proc/<pid>/status of server + worker(s) once all sessions are parked;
 *  - the bare Temporal floor (examples/bench/peers-floor.ts): the same parking and approval on a minimal workflow, same server, same run.
 * Options: --quick (small sizes); env BENCH_PEERS_SYSTEMS, BENCH_STEP_ROUNDS, BENCH_STEPS, BENCH_APPROVAL_ROUNDS,
 * BENCH_APPROVALS, BENCH_PARKED, BENCH_CRASH, BENCH_PARKED_LARGE (0 skips), BENCH_CONCURRENCY, BENCH_RUNTIME_APPROVAL.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from 'agent-runtime/worker';
import { messageText, type ChatRequest, type ScriptedTurn } from 'agent-runtime/testing';
import { createRuntimeSystem, pool, type RuntimeSystem } from './peers-runtime';
import { createTemporalFloor, type TemporalFloor } from './peers-floor';
import { epochMs, parseBenchTask, type DriverSetup, type IpcRequest, type IpcResponse, type SystemDriver, type ToolLogLine } from './peers/protocol';
import { percentile } from './run';

const PEERS_DIR = path.join(__dirname, 'peers');
const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS = path.join(__dirname, 'RESULTS.md');
export const PEERS_START = '<!-- peers:start -->';
export const PEERS_END = '<!-- peers:end -->';

const quick = process.argv.includes('--quick');
function envInt(name: string, full: number, quickValue: number): number {
  const v = process.env[name];
  return v !== undefined && v !== '' ? Number(v) : quick ? quickValue : full;
}
const cfg = {
  systems: (process.env.BENCH_PEERS_SYSTEMS ?? 'runtime,langgraph,langgraph-full,restate').split(',').map((s) => s.trim()).filter(Boolean),
  stepRounds: envInt('BENCH_STEP_ROUNDS', 6, 2),
  steps: envInt('BENCH_STEPS', 50, 10),
  approvalRounds: envInt('BENCH_APPROVAL_ROUNDS', 5, 2),
  approvals: envInt('BENCH_APPROVALS', 10, 5),
  parked: envInt('BENCH_PARKED', 1000, 20),
  crash: envInt('BENCH_CRASH', 100, 10),
  large: envInt('BENCH_PARKED_LARGE', 5000, 50),
  concurrency: envInt('BENCH_CONCURRENCY', 50, 20),
  // The Update is what the runtime's approval interfaces send (HTTP, agentctl, npm run approve); the signal is measured too.
  runtimeApproval: (process.env.BENCH_RUNTIME_APPROVAL === 'signal' ? 'signal' : 'update') as 'signal' | 'update',
};

// ---------- /proc ----------
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // comm may contain spaces; fields start at state (3rd)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime (14th) + stime (15th)
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Usage {
  server: number;
  workers: number;
}
async function cpuOf(d: SystemDriver): Promise<Usage> {
  const p = await d.pids();
  return { server: p.server ? cpuSeconds(p.server) : 0, workers: p.workers.reduce((s, w) => s + cpuSeconds(w), 0) };
}
async function rssOf(d: SystemDriver): Promise<Usage> {
  const p = await d.pids();
  return { server: p.server ? rssBytes(p.server) : 0, workers: p.workers.reduce((s, w) => s + rssBytes(w), 0) };
}

// ---------- the scripted model, the same for every system ----------
/** Arrival times of model requests per session, and whether the answer was a noop step. */
const modelCalls = new Map<string, Array<{ t: number; noop: boolean }>>();

function benchScript(req: ChatRequest): ScriptedTurn {
  const t = performance.now();
  const task = parseBenchTask(messageText(req.messages.find((m) => m.role === 'user')));
  if (!task) return { error: { status: 400, message: 'not a bench task' } };
  const done = req.messages.filter((m) => m.role === 'tool').length;
  let turn: ScriptedTurn;
  if (done < task.steps) turn = { toolCalls: [{ name: 'noop', arguments: { i: done } }] };
  // Runtime-only sessions ('-apprlocal'): the approved tool is read-only, so it runs as a local activity.
  else if (task.approval && done === task.steps) turn = { toolCalls: [{ name: task.sessionId.includes('-apprlocal') ? 'approved_lookup' : 'approved_action', arguments: { item: task.sessionId } }] };
  else turn = { content: `done after ${done} tool calls` };
  const calls = modelCalls.get(task.sessionId) ?? [];
  calls.push({ t, noop: turn.toolCalls?.[0]?.name === 'noop' });
  modelCalls.set(task.sessionId, calls);
  return turn;
}

function stepGaps(ids: string[]): number[] {
  const out: number[] = [];
  for (const id of ids) {
    const calls = modelCalls.get(id) ?? [];
    for (let i = 1; i < calls.length; i++) if (calls[i - 1].noop) out.push(calls[i].t - calls[i - 1].t);
  }
  return out;
}

function readToolLog(file: string): ToolLogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ToolLogLine);
}

// ---------- peers over IPC ----------
function peerDriver(system: string, setup: DriverSetup): Promise<SystemDriver> {
  const file = system.startsWith('langgraph') ? 'langgraph.ts' : system === 'restate' ? 'restate.ts' : undefined;
  if (!file) throw new Error(`unknown system ${system}`);
  const child: ChildProcess = fork(path.join(PEERS_DIR, file), ['driver'], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  child.on('message', (m: IpcResponse) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error) w?.reject(new Error(`${system}: ${m.error}`));
    else w?.resolve(m.result);
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`${system} driver exited (${code})`));
    waiting.clear();
  });
  const call = (method: string, ...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      child.send({ id, method, args } satisfies IpcRequest);
    });
  const driver: SystemDriver = {
    name: system,
    pids: () => call('pids') as ReturnType<SystemDriver['pids']>,
    runSessions: (ids, steps) => call('runSessions', ids, steps) as Promise<void>,
    startParked: (ids, c) => call('startParked', ids, c) as Promise<void>,
    approve: (ids, c) => call('approve', ids, c) as Promise<Record<string, number>>,
    waitDone: (ids, t) => call('waitDone', ids, t) as Promise<number>,
    killWorker: () => call('killWorker') as Promise<void>,
    startWorker: () => call('startWorker') as Promise<void>,
    close: async () => {
      await Promise.race([call('close'), new Promise((r) => setTimeout(r, 15_000))]).catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
  return call('setup', setup).then(() => driver);
}

/** Every driver call bounded in time, so that a stuck system fails the run instead of hanging it. */
function bounded<D extends SystemDriver>(d: D): D {
  const limits: Record<string, number> = {
    runSessions: 10 * 60_000,
    prepareApprovals: 30 * 60_000,
    approveVia: 30 * 60_000,
    historyStepGaps: 5 * 60_000,
    startParked: 60 * 60_000,
    approve: 30 * 60_000,
    killWorker: 2 * 60_000,
    startWorker: 2 * 60_000,
    pids: 30_000,
  };
  return new Proxy(d, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      const limit = typeof prop === 'string' ? limits[prop] : undefined;
      if (typeof v !== 'function' || !limit) return v;
      return (...args: unknown[]) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${d.name}.${String(prop)} took longer than ${limit / 1000} s`)), limit);
        });
        return Promise.race([(v as (...a: unknown[]) => Promise<unknown>).apply(target, args), timeout]).finally(() => clearTimeout(timer));
      };
    },
  });
}

// ---------- workloads ----------
interface SystemResults {
  steps: number[];
  historySteps: number[];
  sessionMsPerStep: number[];
  cpu: Usage;
  stepCount: number;
  approval: number[];
  /** This runtime only: the same with the other approval path (signal vs decideApproval Update). */
  approvalOther: number[];
  /** This runtime only: Update approval of a read-only tool (a local activity). */
  approvalLocal: number[];
  parkedWallMs: number[];
  parkedRss: Usage[];
  /** RSS before the sessions were started, for the growth per parked session. */
  parkedRssBefore: Usage[];
  parkedCompleted: string[];
  /** This runtime only: the same, started through the HTTP API its worker process serves (eager start). */
  parkedHttpWallMs: number[];
  /** This runtime only: the bare Temporal floor on the same server (examples/bench/peers-floor.ts). */
  floorParkedWallMs: number[];
  floorApproval: number[];
  floorApprovalLocal: number[];
  crashFirstMs: number[];
  crashLastMs: number[];
  /** From the SIGKILL (so including the fresh worker's start) to the last approved tool started. */
  crashFromKillLastMs: number[];
  crashRestartMs: number[];
  crashCompleted: string[];
  errors: string[];
  /** LangGraph has no server process: its server rows read n/a rather than 0. */
  hasServer: boolean;
}

function rotate<T>(xs: T[], r: number): T[] {
  const k = r % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Checks every session ran its approved tool exactly once; returns a one-line verdict. */
function verifyOnce(toolLog: string, ids: string[], completed: number): string {
  const counts = new Map<string, number>();
  for (const l of readToolLog(toolLog)) if (l.tool === 'approved_action') counts.set(l.sessionId, (counts.get(l.sessionId) ?? 0) + 1);
  const missing = ids.filter((id) => !counts.get(id)).length;
  const twice = ids.filter((id) => (counts.get(id) ?? 0) > 1).length;
  const ok = completed === ids.length && missing === 0 && twice === 0;
  return `${ok ? 'ok' : 'FAILED'}: ${completed}/${ids.length} completed, approved tool ran once in ${ids.length - missing - twice}` +
    (missing ? `, missing in ${missing}` : '') + (twice ? `, more than once in ${twice}` : '');
}

async function run(): Promise<void> {
  if (cfg.systems.some((s) => s !== 'runtime') && !existsSync(path.join(PEERS_DIR, 'node_modules'))) {
    console.log('[bench:peers] installing the peers (npm ci --prefix examples/bench/peers), one time');
    const r = spawnSync('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm ci --prefix examples/bench/peers failed');
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-peers-'));
  const toolLog = (s: string): string => path.join(dir, `${s}-tools.jsonl`);
  const log = (msg: string): void => console.log(`[bench:peers ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  log(`config ${JSON.stringify(cfg)}; work dir ${dir}`);

  const drivers = new Map<string, SystemDriver>();
  let runtime: RuntimeSystem | undefined;
  let floor: TemporalFloor | undefined;
  const results = new Map<string, SystemResults>();
  const started = Date.now();
  try {
    runtime = await createRuntimeSystem({ toolLog: toolLog('runtime'), approvalVia: cfg.runtimeApproval });
    runtime.harness.model.setScript(benchScript);
    const modelBaseUrl = runtime.harness.model.baseUrl;
    if (cfg.systems.includes('runtime')) floor = await createTemporalFloor(runtime.harness);
    for (const s of cfg.systems) {
      if (s === 'runtime') drivers.set(s, bounded(runtime));
      else {
        const sysDir = path.join(dir, s);
        mkdirSync(sysDir, { recursive: true });
        drivers.set(s, bounded(await peerDriver(s, { modelBaseUrl, toolLog: toolLog(s), dir: sysDir, variant: s === 'langgraph-full' ? 'full' : undefined })));
      }
      results.set(s, {
        steps: [], historySteps: [], sessionMsPerStep: [], cpu: { server: 0, workers: 0 }, stepCount: 0, approval: [], approvalOther: [], approvalLocal: [],
        parkedWallMs: [], parkedRss: [], parkedRssBefore: [], parkedCompleted: [], parkedHttpWallMs: [], floorParkedWallMs: [], floorApproval: [], floorApprovalLocal: [], crashFirstMs: [], crashLastMs: [], crashFromKillLastMs: [], crashRestartMs: [], crashCompleted: [], errors: [],
        hasServer: (await drivers.get(s)!.pids()).server !== undefined,
      });
      log(`${s} up`);
    }
    const systems = [...drivers.keys()];
    // This runtime through the time-bounded wrapper, for its extra methods.
    const rt = drivers.get('runtime') as RuntimeSystem | undefined;
    /** One system's share of a workload: a failure is recorded in the report and the other systems go on. */
    const guard = async (s: string, what: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        const msg = `${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
        results.get(s)!.errors.push(msg);
        log(`${s} FAILED ${msg}`);
      }
    };
    // One warm-up session each (JIT, connections, first checkpoint tables), not recorded.
    for (const s of systems) await drivers.get(s)!.runSessions([`${s}-warmup-0`], 3);

    // 1. Agent steps and CPU.
    for (let r = 0; r < cfg.stepRounds; r++) {
      for (const s of rotate(systems, r)) await guard(s, 'steps', async () => {
        const d = drivers.get(s)!;
        const res = results.get(s)!;
        const ids = [`${s}-steps-r${r}-0`];
        const c0 = await cpuOf(d);
        const t0 = performance.now();
        await d.runSessions(ids, cfg.steps);
        const wall = performance.now() - t0;
        const c1 = await cpuOf(d);
        res.cpu.server += c1.server - c0.server;
        res.cpu.workers += c1.workers - c0.workers;
        res.stepCount += cfg.steps * ids.length;
        res.sessionMsPerStep.push(wall / cfg.steps);
        res.steps.push(...stepGaps(ids));
        if (s === 'runtime') res.historySteps.push(...(await rt!.historyStepGaps(ids)));
      });
      log(`steps round ${r + 1}/${cfg.stepRounds}`);
    }

    // 2. Approval sent -> approved tool started, one session at a time.
    for (let r = 0; r < (cfg.approvals > 0 ? cfg.approvalRounds : 0); r++) {
      for (const s of rotate(systems, r)) await guard(s, 'approval', async () => {
        const d = drivers.get(s)!;
        const ids = Array.from({ length: cfg.approvals }, (_, i) => `${s}-appr${r}-${i}`);
        await d.startParked(ids, cfg.concurrency);
        if (s === 'runtime') await rt!.prepareApprovals(ids);
        const sent: Record<string, number> = {};
        for (const id of ids) {
          Object.assign(sent, await d.approve([id], 1));
          if ((await d.waitDone([id], 60_000)) !== 1) results.get(s)!.errors.push(`approval: ${id} did not complete`);
        }
        // This runtime also decides the same number of sessions the other way (signal vs Update), in the same round.
        const other = s === 'runtime' ? ids.map((_, i) => `${s}-appr${r}x-${i}`) : [];
        const sentOther: Record<string, number> = {};
        if (other.length) {
          await d.startParked(other, cfg.concurrency);
          await rt!.prepareApprovals(other);
          for (const id of other) {
            Object.assign(sentOther, await rt!.approveVia([id], 1, cfg.runtimeApproval === 'signal' ? 'update' : 'signal'));
            if ((await d.waitDone([id], 60_000)) !== 1) results.get(s)!.errors.push(`approval: ${id} did not complete`);
          }
        }
        // And approves a read-only tool the same way (by Update): it runs as a local activity, in the workflow
        // task that takes the decision, where a write tool is scheduled as a regular activity.
        const local = s === 'runtime' ? ids.map((_, i) => `${s}-apprlocal${r}-${i}`) : [];
        const sentLocal: Record<string, number> = {};
        if (local.length) {
          await d.startParked(local, cfg.concurrency);
          await rt!.prepareApprovals(local);
          for (const id of local) {
            Object.assign(sentLocal, await rt!.approveVia([id], 1, 'update'));
            if ((await d.waitDone([id], 60_000)) !== 1) results.get(s)!.errors.push(`approval: ${id} did not complete`);
          }
        }
        // The bare Temporal floor, the same number each way, in this runtime's turn of the round.
        if (s === 'runtime' && floor) {
          for (const run of ['activity', 'local'] as const) {
            const fids = ids.map((_, i) => `floor-appr${r}-${run}-${i}`);
            await floor.startParked(fids, cfg.concurrency);
            for (const id of fids) (run === 'local' ? results.get(s)!.floorApprovalLocal : results.get(s)!.floorApproval).push(await floor.decide(id, run));
          }
        }
        const started = new Map(readToolLog(toolLog(s)).map((l) => [l.sessionId, l.t]));
        for (const id of ids) if (started.has(id)) results.get(s)!.approval.push(started.get(id)! - sent[id]);
        for (const id of other) if (started.has(id)) results.get(s)!.approvalOther.push(started.get(id)! - sentOther[id]);
        for (const id of local) if (started.has(id)) results.get(s)!.approvalLocal.push(started.get(id)! - sentLocal[id]);
      });
      log(`approval round ${r + 1}/${cfg.approvalRounds}`);
    }

    // 3. N parked: start until all parked, RSS, then approve all and check all complete.
    for (const s of cfg.parked > 0 ? systems : []) await guard(s, 'parked', async () => {
      const d = drivers.get(s)!;
      const res = results.get(s)!;
      const ids = Array.from({ length: cfg.parked }, (_, i) => `${s}-park-${i}`);
      res.parkedRssBefore.push(await rssOf(d));
      const t0 = performance.now();
      await d.startParked(ids, cfg.concurrency);
      res.parkedWallMs.push(performance.now() - t0);
      res.parkedRss.push(await rssOf(d));
      if (s === 'runtime') await rt!.prepareApprovals(ids);
      await d.approve(ids, cfg.concurrency);
      res.parkedCompleted.push(verifyOnce(toolLog(s), ids, await d.waitDone(ids, 30 * 60_000)));
      log(`${s}: ${cfg.parked} parked in ${res.parkedWallMs.at(-1)!.toFixed(0)} ms; ${res.parkedCompleted.at(-1)}`);
      if (s !== 'runtime') return;
      // The same again with the starts sent to the worker process's HTTP API, where they start eagerly.
      const httpIds = Array.from({ length: cfg.parked }, (_, i) => `${s}-parkhttp-${i}`);
      const t1 = performance.now();
      await rt!.startParkedViaWorkerHttp(httpIds, cfg.concurrency);
      res.parkedHttpWallMs.push(performance.now() - t1);
      await rt!.prepareApprovals(httpIds);
      await d.approve(httpIds, cfg.concurrency);
      res.parkedCompleted.push(verifyOnce(toolLog(s), httpIds, await d.waitDone(httpIds, 30 * 60_000)));
      log(`${s}: ${cfg.parked} parked through the worker's HTTP API in ${res.parkedHttpWallMs.at(-1)!.toFixed(0)} ms; ${res.parkedCompleted.at(-1)}`);
      if (!floor) return;
      const floorIds = Array.from({ length: cfg.parked }, (_, i) => `floor-park-${i}`);
      const t2 = performance.now();
      await floor.startParked(floorIds, cfg.concurrency);
      res.floorParkedWallMs.push(performance.now() - t2);
      await pool(floorIds, cfg.concurrency, async (id) => {
        await floor!.decide(id, 'activity');
      });
      log(`bare Temporal floor: ${cfg.parked} parked in ${res.floorParkedWallMs.at(-1)!.toFixed(0)} ms`);
    });

    // 4. Worker SIGKILL with C parked: kill, start a fresh worker, send all approvals; first/last approved tool started.
    for (const s of cfg.crash > 0 ? systems : []) await guard(s, 'crash', async () => {
      const d = drivers.get(s)!;
      const res = results.get(s)!;
      const ids = Array.from({ length: cfg.crash }, (_, i) => `${s}-crash-${i}`);
      await d.startParked(ids, cfg.concurrency);
      if (s === 'runtime') await rt!.prepareApprovals(ids);
      const killedAt = epochMs();
      await d.killWorker();
      await d.startWorker();
      res.crashRestartMs.push(epochMs() - killedAt);
      const sent = await d.approve(ids, cfg.concurrency);
      const completed = await d.waitDone(ids, 10 * 60_000);
      const first = Math.min(...Object.values(sent));
      const idSet = new Set(ids);
      const starts = readToolLog(toolLog(s)).filter((l) => idSet.has(l.sessionId)).map((l) => l.t);
      if (starts.length) {
        res.crashFirstMs.push(Math.min(...starts) - first);
        res.crashLastMs.push(Math.max(...starts) - first);
        res.crashFromKillLastMs.push(Math.max(...starts) - killedAt);
      }
      res.crashCompleted.push(verifyOnce(toolLog(s), ids, completed));
      log(`${s}: crash with ${cfg.crash} parked; ${res.crashCompleted.at(-1)}`);
    });

    // 5. This runtime only: many parked sessions, worker and server RSS.
    let large: { n: number; wallMs: number; rss: Usage; before: Usage; verdict: string } | undefined;
    if (cfg.large > 0 && rt) await guard('runtime', 'large', async () => {
      const runtime = rt!;
      const ids = Array.from({ length: cfg.large }, (_, i) => `runtime-large-${i}`);
      const before = await rssOf(runtime);
      const t0 = performance.now();
      await runtime.startParked(ids, cfg.concurrency);
      const wallMs = performance.now() - t0;
      const rss = await rssOf(runtime);
      await rt!.prepareApprovals(ids);
      await runtime.approve(ids, cfg.concurrency);
      large = { n: cfg.large, wallMs, rss, before, verdict: verifyOnce(toolLog('runtime'), ids, await runtime.waitDone(ids, 60 * 60_000)) };
      log(`runtime: ${cfg.large} parked in ${wallMs.toFixed(0)} ms; ${large.verdict}`);
    });

    const md = section(systems, results, large, (Date.now() - started) / 1000);
    writeSection(md);
    console.log(md);
  } finally {
    for (const [s, d] of drivers) if (s !== 'runtime') await d.close().catch((e) => console.error(e));
    await floor?.close().catch((e) => console.error(e));
    await runtime?.close().catch((e) => console.error(e));
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------- report ----------
const ms = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-');
const mib = (b: number): string => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(0)} MiB` : '-');
const median = (xs: number[]): number => percentile(xs, 50);

/** What the bench's worker process runs with: the runtime's defaults unless this environment overrides them (see examples/bench/peers-runtime.ts). */
const workerConfig = loadConfig({ STICKY_TIMEOUT_MS: process.env.STICKY_TIMEOUT_MS, HEARTBEAT_TIMEOUT_MS: process.env.HEARTBEAT_TIMEOUT_MS });

function section(systems: string[], res: Map<string, SystemResults>, large: { n: number; wallMs: number; rss: Usage; before: Usage; verdict: string } | undefined, seconds: number): string {
  const peers = systems.filter((s) => s !== 'runtime');
  const hasRuntime = systems.includes('runtime');
  const ratioCols = hasRuntime ? peers.map((p) => `runtime / ${p}`) : [];
  type Row = { name: string; values: number[]; fmt: (x: number) => string; n?: (s: SystemResults) => number };
  const rows: Row[] = [];
  const add = (name: string, f: (r: SystemResults) => number, fmt: (x: number) => string, n?: (s: SystemResults) => number): void => {
    rows.push({ name, values: systems.map((s) => f(res.get(s)!)), fmt, ...(n ? { n } : {}) });
  };
  add('agent step p50 (ms), model-server clock', (r) => percentile(r.steps, 50), ms, (r) => r.steps.length);
  add('agent step p99 (ms), model-server clock', (r) => percentile(r.steps, 99), ms, (r) => r.steps.length);
  add('session wall time / steps (ms), client clock, median of rounds', (r) => median(r.sessionMsPerStep), ms, (r) => r.sessionMsPerStep.length);
  add('CPU-seconds per 1,000 steps, server + worker', (r) => ((r.cpu.server + r.cpu.workers) / r.stepCount) * 1000, (x) => x.toFixed(1), (r) => r.stepCount);
  add('  of which server', (r) => (r.hasServer ? (r.cpu.server / r.stepCount) * 1000 : NaN), (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a'));
  add('  of which worker', (r) => (r.cpu.workers / r.stepCount) * 1000, (x) => x.toFixed(1));
  add('approval sent -> approved tool started p50 (ms)', (r) => percentile(r.approval, 50), ms, (r) => r.approval.length);
  add('approval sent -> approved tool started p99 (ms)', (r) => percentile(r.approval, 99), ms, (r) => r.approval.length);
  if (hasRuntime) {
    const via = cfg.runtimeApproval === 'signal' ? 'decideApproval Update' : 'approval signal';
    add(`approval -> tool started p50 (ms), this runtime by ${via}`, (r) => percentile(r.approvalOther, 50), ms, (r) => r.approvalOther.length);
    add(`approval -> tool started p99 (ms), this runtime by ${via}`, (r) => percentile(r.approvalOther, 99), ms, (r) => r.approvalOther.length);
    add('approval -> read-only (local) tool started p50 (ms), this runtime by Update', (r) => percentile(r.approvalLocal, 50), ms, (r) => r.approvalLocal.length);
    add('approval -> read-only (local) tool started p99 (ms), this runtime by Update', (r) => percentile(r.approvalLocal, 99), ms, (r) => r.approvalLocal.length);
    // Rows whose runtime column is the bare Temporal floor (examples/bench/peers-floor.ts); the peers' columns repeat their own figure.
    const floorApproval = (r: SystemResults): number[] => (r.floorApproval.length ? r.floorApproval : r.approval);
    const floorApprovalLocal = (r: SystemResults): number[] => (r.floorApprovalLocal.length ? r.floorApprovalLocal : r.approval);
    add('approval -> activity started p50 (ms); runtime column: bare Temporal workflow, Update -> regular activity', (r) => percentile(floorApproval(r), 50), ms, (r) => floorApproval(r).length);
    add('approval -> activity started p99 (ms); runtime column: bare Temporal workflow, Update -> regular activity', (r) => percentile(floorApproval(r), 99), ms, (r) => floorApproval(r).length);
    add('approval -> activity started p50 (ms); runtime column: bare Temporal workflow, Update -> local activity', (r) => percentile(floorApprovalLocal(r), 50), ms, (r) => floorApprovalLocal(r).length);
  }
  add(`${cfg.parked} sessions: start until all parked on approval (s)`, (r) => median(r.parkedWallMs) / 1000, (x) => x.toFixed(2));
  if (hasRuntime) {
    add(
      `${cfg.parked} sessions parked (s); this runtime started through its worker's HTTP API (eager start), the peers as above`,
      (r) => median(r.parkedHttpWallMs.length ? r.parkedHttpWallMs : r.parkedWallMs) / 1000,
      (x) => x.toFixed(2),
    );
    add(
      `${cfg.parked} parked (s); runtime column: bare Temporal workflow (start, one workflow task that upserts its status, wait for an Update), the peers as above`,
      (r) => median(r.floorParkedWallMs.length ? r.floorParkedWallMs : r.parkedWallMs) / 1000,
      (x) => x.toFixed(2),
    );
  }
  add(`RSS with ${cfg.parked} parked, server + worker`, (r) => median(r.parkedRss.map((u) => u.server + u.workers)), mib);
  add('  of which server', (r) => (r.hasServer ? median(r.parkedRss.map((u) => u.server)) : NaN), (b) => (Number.isFinite(b) ? mib(b) : 'n/a'));
  add('  of which worker', (r) => median(r.parkedRss.map((u) => u.workers)), mib);
  add('RSS growth per parked session (KiB), server + worker', (r) => {
    const growth = r.parkedRss.map((u, i) => u.server + u.workers - (r.parkedRssBefore[i].server + r.parkedRssBefore[i].workers));
    return median(growth) / cfg.parked / 1024;
  }, (x) => x.toFixed(0));
  add(`worker SIGKILL with ${cfg.crash} parked: approvals sent -> first resumed (s)`, (r) => median(r.crashFirstMs) / 1000, (x) => x.toFixed(2));
  add(`worker SIGKILL with ${cfg.crash} parked: approvals sent -> last resumed (s)`, (r) => median(r.crashLastMs) / 1000, (x) => x.toFixed(2));
  add('  fresh worker started after the SIGKILL in (s)', (r) => median(r.crashRestartMs) / 1000, (x) => x.toFixed(2));
  add('  SIGKILL -> last resumed (s), fresh worker start included', (r) => median(r.crashFromKillLastMs) / 1000, (x) => x.toFixed(2));
  if (hasRuntime) {
    add('agent step p50 (ms), server history (callModel scheduled gaps, examples/bench/run.ts method)', (r) => percentile(r.historySteps, 50), ms, (r) => r.historySteps.length);
    add('agent step p99 (ms), server history (callModel scheduled gaps, examples/bench/run.ts method)', (r) => percentile(r.historySteps, 99), ms, (r) => r.historySteps.length);
  }

  const head = ['| workload | ' + systems.join(' | ') + (ratioCols.length ? ' | ' + ratioCols.join(' | ') : '') + ' |'];
  head.push('|---|' + systems.map(() => '---:').join('|') + '|' + ratioCols.map(() => '---:|').join(''));
  const ri = systems.indexOf('runtime');
  const lines = rows.map((row) => {
    const cells = row.values.map((v, i) => {
      const n = row.n?.(res.get(systems[i])!);
      if (n === 0) return 'n/a';
      return row.fmt(v) + (n !== undefined ? ` (n=${n})` : '');
    });
    const ratios = hasRuntime
      ? peers.map((p) => {
          const q = row.values[ri] / row.values[systems.indexOf(p)];
          // A ratio of a negative or missing figure (e.g. RSS growth lost in GC noise at small N) means nothing.
          return Number.isFinite(q) && q > 0 ? `${q.toFixed(2)}x` : '-';
        })
      : [];
    return `| ${row.name} | ${cells.join(' | ')}${ratios.length ? ' | ' + ratios.join(' | ') : ''} |`;
  });
  const checks = systems.map(
    (s) => `- ${s}: parked: ${res.get(s)!.parkedCompleted.join('; ') || '-'}; crash: ${res.get(s)!.crashCompleted.join('; ') || '-'}` +
      (res.get(s)!.errors.length ? `; errors: ${res.get(s)!.errors.slice(0, 5).join('; ')}` : ''),
  );
  return [
    PEERS_START,
    '## Side by side: this runtime, LangGraph-JS, Restate (`npm run bench:peers`)',
    '',
    `Measured on ${new Date().toISOString()} in one run of ${seconds.toFixed(0)} s${quick ? ' (--quick)' : ''} (${os.cpus().length} cores, Node ${process.version}).`,
    `Sizes: ${cfg.stepRounds} rounds x ${cfg.steps} steps; ${cfg.approvalRounds} x ${cfg.approvals} approvals one at a time; ${cfg.parked} parked; ${cfg.crash} parked for the crash; starts and approvals ${cfg.concurrency} in flight; rounds interleaved round robin.`,
    `runtime: Temporal dev server + one worker process, sticky timeout ${workerConfig.STICKY_TIMEOUT_MS} ms and heartbeat timeout ${workerConfig.HEARTBEAT_TIMEOUT_MS} ms (the worker's own config), approvals by ` +
      `${cfg.runtimeApproval}; langgraph: @langchain/langgraph 1.7 StateGraph, SqliteSaver on a file, durability 'sync', interrupt()/Command(resume), ` +
      'the graph in its own process behind HTTP; langgraph-full: the same with PRAGMA synchronous=FULL; restate: restate-server 1.7 single node ' +
      '+ SDK 1.17 service process, ctx.run per model/tool call, durable promise for the approval.',
    'Agent step = gap between consecutive model requests of a session at the scripted model server (model call + no-op tool + bookkeeping). ' +
      'CPU from /proc utime+stime of server + worker around the step rounds. Approval = client stamp before sending -> stamp at the approved tool\'s entry. ' +
      'RSS = VmRSS once all are parked. Crash = SIGKILL the worker (LangGraph: the graph process; Restate: the SDK service; the servers stay up), start a fresh one, send all approvals. Ratios: runtime / peer, same run.',
    'Rows whose runtime column is a "bare Temporal workflow" measure the server\'s floor in the same run (examples/bench/peers-floor.ts: start, one workflow task that ' +
      'upserts its status, an Update, one activity; worker in the bench process): no session can be faster on this server than that row. "Started through its worker\'s ' +
      'HTTP API": POST /sessions served by the worker process on its own connection, where starts are eager (client/eager.ts).',
    '',
    ...head,
    ...lines,
    '',
    ...(large
      ? [`This runtime, ${large.n} parked: started until all parked in ${(large.wallMs / 1000).toFixed(1)} s; worker RSS ${mib(large.rss.workers)} (${mib(large.before.workers)} before), server RSS ${mib(large.rss.server)} (${mib(large.before.server)} before), ` +
          `${((large.rss.workers - large.before.workers) / large.n / 1024).toFixed(0)} KiB worker growth per parked session; after approval ${large.verdict}.`, '']
      : []),
    'Correctness (every session completes, the approved tool ran exactly once):',
    ...checks,
    PEERS_END,
  ].join('\n');
}

/** Replaces the section between the markers (or appends it), leaving what `npm run bench` wrote untouched. */
export function writeSection(md: string): void {
  const current = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '# Benchmark results\n';
  const a = current.indexOf(PEERS_START);
  const b = current.indexOf(PEERS_END);
  const next = a >= 0 && b > a ? current.slice(0, a) + md + current.slice(b + PEERS_END.length) : current.trimEnd() + '\n\n' + md + '\n';
  writeFileSync(RESULTS, next);
}

if (require.main === module) {
  const hardStop = setTimeout(() => {
    console.error('[bench:peers] giving up after 3 h');
    process.exit(2);
  }, 3 * 3600_000);
  hardStop.unref();
  run().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
