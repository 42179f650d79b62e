/**
 * The long session's figures for `npm run bench` (rows in bench/RESULTS.md): the same 5,000-step session
 * `npm run test:long` checks (test/support/marathon.ts; LONG_STEPS to change N), measured: wall time per
 * step, history bytes per step, the largest run, and the state handed from run to run at step ~100 and
 * at the end (flat means the worker's per-session state does not grow with the steps).
 *   npx tsx bench/long.ts     (just these rows, printed)
 */
import { createHarness } from '../test/support/harness';
import { marathonFigures, runMarathon } from '../test/support/marathon';
import { writeWorkflowBundle } from '../test/support/paths';
import type { BenchRow } from './run';

export async function benchLong(steps = Number(process.env.LONG_STEPS ?? 5000)): Promise<BenchRow[]> {
  const h = await createHarness();
  await h.startWorker();
  try {
    const r = await runMarathon(h, steps);
    const f = marathonFigures(r);
    const label = `long session (${f.steps} steps, ${f.runs} runs, approval every 500 steps, continue-as-new every 100, context compacted ${r.compactions}×)`;
    const fixed = (name: string, a: number, b: number, note: string): BenchRow => ({ name, n: f.steps, p50Ms: a, p99Ms: b, note });
    return [
      fixed(`${label}: wall time per step`, f.msPerStep, f.msPerStep, `ms; ${f.wallSeconds.toFixed(0)} s in all`),
      fixed(`${label}: history bytes per step`, f.historyBytesPerStep, f.historyBytesPerStep, 'bytes, not ms: all runs\' encoded histories / steps'),
      fixed(`${label}: largest run`, f.maxRunEvents, f.maxRunBytes, 'columns: events, bytes'),
      fixed(`${label}: workflow state carried to the next run at step ~100 / at step ${f.steps}`, f.carryBytesAtStep100, f.carryBytesAtEnd, 'columns: bytes, bytes (the carry: the whole state of the session)'),
      fixed(`${label}: state query answer at step ~100 / at step ${f.steps}`, f.stateQueryBytesAt100, f.stateQueryBytesAtEnd, 'columns: bytes, bytes'),
    ];
  } finally {
    await h.close();
  }
}

if (require.main === module) {
  writeWorkflowBundle()
    .then(() => benchLong())
    .then((rows) => console.log(JSON.stringify(rows, null, 2)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
