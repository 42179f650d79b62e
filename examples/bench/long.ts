/**
 * The long session's figures for `npm run bench` (examples/examples/bench/RESULTS.md): the same 5,000-step session
 * `npm run test:long` checks (test/support/marathon.ts; LONG_STEPS to change N), measured: wall time per
 * step, history bytes per step, the largest run, and the state handed from run to run at step ~100 and
 * at the end (flat means the worker's per-session state does not grow with the steps).
 * Written as the `long` marked section of examples/bench/RESULTS.md (kept when the rest of the file is rewritten).
 *   npx tsx examples/bench/long.ts     (only this section)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHarness } from '../../test/support/harness';
import { marathonFigures, runMarathon } from '../../test/support/marathon';
import { writeWorkflowBundle } from '../../test/support/paths';
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

const RESULTS_FILE = path.join(__dirname, 'RESULTS.md');

/** Runs the long session and writes its rows as the `long` section of examples/bench/RESULTS.md. */
export async function updateLongSection(): Promise<string> {
  const rows = await benchLong();
  const fmt = (x: number): string => (Number.isFinite(x) ? (Number.isInteger(x) ? String(x) : x.toFixed(2)) : '-');
  const section = [
    '<!-- long:start -->',
    '## Long session (`examples/bench/long.ts`, the session `npm run test:long` checks)',
    '',
    `Measured on ${new Date().toISOString()} (${os.cpus().length} cores, shared; Node ${process.version}), dev server, scripted model, SQLite stores.`,
    '',
    '| measurement | steps | value | value | note |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.note ?? ''} |`),
    '<!-- long:end -->',
  ].join('\n');
  const current = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '# Benchmark results\n';
  const next = /<!-- long:start -->[\s\S]*?<!-- long:end -->/.test(current)
    ? current.replace(/<!-- long:start -->[\s\S]*?<!-- long:end -->/, section)
    : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(RESULTS_FILE, next);
  return section;
}

if (require.main === module) {
  writeWorkflowBundle()
    .then(() => updateLongSection())
    .then((section) => console.log(section))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
