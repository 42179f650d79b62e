/**
 * Fork latency: from the client's fork call until the fork's first model request arrives at the scripted
 * model server (the fork's first activity links the store prefix, reads the parent's state at the fork
 * point, queries the parent for its grants and top-ups, and restores its workspace snapshot; then the
 * fork's first model call). Measured at a short prefix and at a
 * long one (the fork point's activity reads the whole prefix). Part of `npm run bench`; alone:
 *   npx tsx examples/bench/fork.ts [--quick]
 * Results go to their own marked section of examples/bench/RESULTS.md (kept when the main bench rewrites the file).
 */
import os from 'node:os';
import path from 'node:path';
import { forkSession, startSession } from 'agent-runtime/client';
import type { Harness } from '../../test/support/harness';
import { runStandalone } from './standalone';
import { percentile, type BenchRow, replaceSection, rowsTable } from './stats';

const START = '<!-- fork:start -->';
const END = '<!-- fork:end -->';
const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');


/** A parent of `steps` add-steps, then `n` forks at a short and at the longest prefix (each fork answers at once). */
export async function benchFork(h: Harness, n: number, steps = 100): Promise<BenchRow[]> {
  h.model.setScript((req) => {
    const last = req.messages.at(-1);
    if (last?.role === 'user' && last.content === 'stop here') return { content: 'stopped' };
    const calls = req.messages.filter((m) => m.role === 'tool').length;
    return calls < steps ? { toolCalls: [{ name: 'add', arguments: { a: calls, b: 1 } }] } : { content: `done after ${calls} steps` };
  });
  const parent = await startSession(h.client, { agent: 'calculator', task: 'count' }, h.config);
  await parent.handle.result();
  const rows: BenchRow[] = [];
  const timeFork = async (parentId: string, atSeq: number): Promise<number> => {
    const seen = h.model.requestTimes.length;
    const t0 = performance.now();
    const fork = await forkSession(h.client, parentId, { atSeq, task: 'stop here' }, h.config);
    await fork.handle.result();
    const first = h.model.requestTimes[seen];
    if (first === undefined) throw new Error(`fork ${fork.sessionId} made no model request`);
    return first - t0;
  };
  // Transcript: 0 system, 1 user, then per step an assistant turn and its tool result (odd seqs).
  for (const atSeq of [3, 2 * steps + 1]) {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) samples.push(await timeFork(parent.sessionId, atSeq));
    rows.push({
      name: `fork: client fork call -> fork's first model request, prefix of ${atSeq + 1} entries, same closed parent each time`,
      n,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      note: "start + link + parent state at the fork point + workspace restore (an empty tree); the parent's grants and top-ups from the worker's copy of its final state",
    });
  }
  // The first fork of a closed parent: its state query replays the parent's 100 steps on a worker.
  const firsts: number[] = [];
  for (let i = 0; i < Math.max(3, Math.floor(n / 3)); i++) {
    const p = await startSession(h.client, { agent: 'calculator', task: 'count' }, h.config);
    await p.handle.result();
    firsts.push(await timeFork(p.sessionId, 2 * steps + 1));
  }
  rows.push({
    name: `fork: the same, first fork of a closed ${steps}-step parent`,
    n: firsts.length,
    p50Ms: percentile(firsts, 50),
    p99Ms: percentile(firsts, 99),
    note: "as above, plus the parent's state query (grants, top-ups), which replays the closed parent",
  });
  return rows;
}

export function writeForkSection(rows: BenchRow[], file = RESULTS_FILE): void {
  const md = [
    START,
    '### Forks',
    '',
    `Measured on ${new Date().toISOString()} (${os.cpus().length} cores, Node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} at the end): real dev server, scripted model over HTTP, SQLite store; forks run one at a time.`,
    '',
    ...rowsTable(rows),
    END,
  ].join('\n');
  replaceSection(file, START, END, md);
}

if (require.main === module) {
  runStandalone(async (h) => {
    const rows = await benchFork(h, process.argv.includes('--quick') ? 10 : 30);
    writeForkSection(rows);
    console.log(rows);
  });
}
