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
