import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Percentiles and table rows shared by the benches (kept apart from run.ts so the bench modules it imports can use them). */

/** One row of a bench table: a p50/p99 over n samples (ms unless the note says otherwise). */
export interface BenchRow {
  name: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
  note?: string;
}

/** Nearest-rank percentile; NaN for no samples. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function row(name: string, samples: number[], note?: string): BenchRow {
  return { name, n: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), ...(note ? { note } : {}) };
}

/** A markdown table of rows (ms figures to 3 significant digits). */
export function rowsTable(rows: readonly BenchRow[]): string[] {
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  return ['| measurement | n | p50 (ms) | p99 (ms) | note |', '|---|---:|---:|---:|---|', ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.note ?? ''} |`)];
}

/** Replaces the text between the `start` and `end` markers of `file` with `md` (which holds both), or appends it. */
export function replaceSection(file: string, start: string, end: string, md: string): void {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const i = current.indexOf(start);
  const j = current.indexOf(end);
  writeFileSync(file, i >= 0 && j > i ? current.slice(0, i) + md + current.slice(j + end.length) : `${current.trimEnd()}\n\n${md}\n`);
}
