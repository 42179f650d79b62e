/**
 * This runtime as a system under test for `npm run bench:peers`: a real dev server (the harness), the worker
 * in a child process, and only the project's client functions (startSession, signalApproval/decideApproval,
 * waitForState). The worker runs with the runtime's configured defaults (sticky timeout, heartbeat timeout),
 * not the shorter values the test harness sets for test speed, since the bench measures what users get.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { decideApproval, signalApproval, startSession, waitForState } from 'agent-runtime/client';
import { randomBytes } from 'node:crypto';
import { createHarness, freePort, type Harness } from '../../test/support/harness';
import { writeWorkflowBundle } from '../../test/support/paths';
import { benchTask, epochMs, type SystemDriver } from './peers/protocol';

export interface RuntimeSystem extends SystemDriver {
  harness: Harness;
  /** Collects the pending approval ids (state query), outside any timed section. */
  prepareApprovals(ids: string[]): Promise<void>;
  /** approve() with the other way of deciding (signal or the decideApproval Update). */
  approveVia(ids: string[], concurrency: number, via: 'signal' | 'update'): Promise<Record<string, number>>;
  /**
   * startParked with the starts sent to the HTTP API the worker process serves on its own connection (POST /sessions),
   * where they start eagerly (client/eager.ts): the deployment in which the peers are measured (their graph or
   * service process behind HTTP). startParked itself starts through a client in this process (not eager).
   */
  startParkedViaWorkerHttp(ids: string[], concurrency: number): Promise<void>;
  /** Per-step gaps between consecutive `callModel` activity-scheduled events, when the history has them (examples/bench/run.ts's method). */
  historyStepGaps(ids: string[]): Promise<number[]>;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function eventMs(e: temporal.api.history.v1.IHistoryEvent): number {
  const t = e.eventTime!;
  return Number(t.seconds) * 1000 + (t.nanos ?? 0) / 1e6;
}

/** Resolves once visibility counts `n` workflows of the batch (UserId) as waiting on an approval; fails after an hour. */
export async function waitParked(client: Harness['client'], batch: string, n: number, who: string): Promise<void> {
  const query = `UserId = "${batch}" AND SessionStatus = "awaiting_approval"`;
  const deadline = Date.now() + 60 * 60_000;
  for (;;) {
    const { count } = await client.workflow.count(query);
    if (count >= n) return;
    if (Date.now() > deadline) throw new Error(`${who}: ${count}/${n} parked after an hour`);
    await sleep(50);
  }
}

export async function createRuntimeSystem(opts: { toolLog: string; approvalVia: 'signal' | 'update' }): Promise<RuntimeSystem> {
  await writeWorkflowBundle();
  const h = await createHarness();
  // The worker process serves the HTTP API here (peers-runtime-worker.ts), with one bench key.
  const httpPort = await freePort();
  const httpKey = `bench-${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...h.env,
    BENCH_TOOL_LOG: opts.toolLog,
  };
  // Only the first worker serves HTTP (the parked rounds start through it). Workers started after a SIGKILL do
  // not, so the crash figures time the same worker as before (loading the HTTP API adds ~0.5 s to a start).
  let serveHttp = true;
  // The harness shortens these for tests; the bench keeps the runtime's own defaults unless the caller's env sets them.
  for (const k of ['STICKY_TIMEOUT_MS', 'HEARTBEAT_TIMEOUT_MS']) {
    if (process.env[k]) env[k] = process.env[k]!;
    else delete env[k];
  }
  let worker: ChildProcess | undefined;
  const startWorker = async (): Promise<void> => {
    // `node --import tsx` keeps the worker in this one process (no wrapper), so /proc figures and SIGKILL are its own.
    // BENCH_WORKER_NODE_ARGS: extra node flags for the worker (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof to profile it).
    const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(__dirname, 'peers-runtime-worker.ts')], {
      env: serveHttp ? { ...env, BENCH_HTTP_PORT: String(httpPort), BENCH_HTTP_KEY: httpKey } : env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker not ready after 120 s:\n${stderr}`)), 120_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('WORKER_READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`worker exited ${code} before ready:\n${stderr}`));
      });
    });
    child.stdout!.resume();
    worker = child;
  };
  const killWorker = async (): Promise<void> => {
    const w = worker;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await gone;
  };
  await startWorker();
  serveHttp = false;

  const approvalIds = new Map<string, string>();
  let batches = 0;
  const input = (id: string, steps: number, approval: boolean, batch?: string) => ({
    agent: 'bench-peer',
    task: benchTask(id, steps, approval),
    sessionId: id,
    ...(batch ? { userId: batch } : {}),
  });

  /** Starts every session with `start`, then waits until visibility counts all of them parked on their approval. */
  const startParkedWith = async (ids: string[], concurrency: number, start: (id: string, batch: string) => Promise<void>): Promise<void> => {
    // The batch rides on the UserId search attribute, so one visibility count tells when all are parked
    // (polling each session's state query would load the server and the worker's cache while we measure).
    const batch = `bench-batch-${++batches}-${Date.now()}`;
    await pool(ids, concurrency, (id) => start(id, batch));
    await waitParked(h.client, batch, ids.length, 'runtime');
  };

  const system: RuntimeSystem = {
    name: 'runtime',
    harness: h,
    pids: async () => ({ server: h.server.pid, workers: [worker!.pid!] }),
    async runSessions(ids, steps) {
      for (const id of ids) {
        const s = await startSession(h.client, input(id, steps, false), h.config);
        await s.handle.result();
      }
    },
    startParked(ids, concurrency) {
      return startParkedWith(ids, concurrency, async (id, batch) => {
        await startSession(h.client, input(id, 0, true, batch), h.config);
      });
    },
    startParkedViaWorkerHttp(ids, concurrency) {
      return startParkedWith(ids, concurrency, async (id, batch) => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/sessions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${httpKey}`, 'content-type': 'application/json' },
          body: JSON.stringify(input(id, 0, true, batch)),
        });
        if (res.status !== 201) throw new Error(`POST /sessions for ${id}: ${res.status} ${await res.text()}`);
      });
    },
    async prepareApprovals(ids) {
      await pool(ids, 20, async (id) => {
        const st = await waitForState(h.client, id, (x) => x.status === 'awaiting_approval' && x.pendingApprovals.length > 0, { timeoutMs: 120_000 });
        approvalIds.set(id, st.pendingApprovals[0].approvalId);
      });
    },
    approve(ids, concurrency) {
      return system.approveVia(ids, concurrency, opts.approvalVia);
    },
    async approveVia(ids, concurrency, via) {
      const sent: Record<string, number> = {};
      await pool(ids, concurrency, async (id) => {
        const approvalId = approvalIds.get(id);
        if (!approvalId) throw new Error(`${id}: no approval id collected`);
        const decision = { approvalId, decision: 'approve' as const, approver: 'bench' };
        sent[id] = epochMs();
        if (via === 'update') await decideApproval(h.client, id, decision);
        else await signalApproval(h.client, id, decision);
      });
      return sent;
    },
    async waitDone(ids, timeoutMs) {
      let done = 0;
      const deadline = Date.now() + timeoutMs;
      await pool(ids, 50, async (id) => {
        const left = deadline - Date.now();
        if (left <= 0) return;
        const ok = await Promise.race([h.client.workflow.getHandle(id).result().then(() => true), sleep(left).then(() => false)]).catch(() => false);
        if (ok) done++;
      });
      return done;
    },
    async historyStepGaps(ids) {
      const out: number[] = [];
      for (const id of ids) {
        const events = (await h.client.workflow.getHandle(id).fetchHistory()).events ?? [];
        const t = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'callModel').map(eventMs);
        out.push(...t.slice(1).map((x, i) => x - t[i]));
      }
      return out;
    },
    killWorker,
    startWorker,
    async close() {
      await killWorker();
      await h.close();
    },
  };
  return system;
}
