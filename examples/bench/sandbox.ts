/**
 * Sandbox start-up overhead: the same commands spawned directly and through runSandboxed, interleaved
 * in one run so machine load affects both sides alike. Standalone: `npx tsx examples/bench/sandbox.ts [iterations]`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { releaseWorkspaceMounts, runSandboxed } from 'agent-runtime/sandbox';

export interface BenchRow {
  name: string;
  p50Ms: number;
  p99Ms: number;
  n: number;
}

// The system interpreter on both sides (a pyenv shim on the host PATH would make "direct" look slower).
const PYTHON = '/usr/bin/python3';
const PY_SCRIPT = 'import json, sys\nprint(json.dumps({"sum": sum(range(10000))}))';

function direct(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv[0]} exited ${code}`))));
  });
}

async function sandboxed(workspaceDir: string, argv: string[]): Promise<void> {
  const r = await runSandboxed({ workspaceDir, argv, network: 'none' });
  if (r.exitCode !== 0) throw new Error(`${argv[0]} exited ${r.exitCode} in the sandbox: ${r.stderr}`);
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function row(name: string, samples: number[]): BenchRow {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { name, p50Ms: round(percentile(s, 50)), p99Ms: round(percentile(s, 99)), n: s.length };
}

export async function benchSandbox(iterations: number): Promise<BenchRow[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sbx-bench-'));
  fs.chmodSync(root, 0o711); // the sandbox uid must be able to reach its workspace
  const ws = path.join(root, 'ws');
  const cases: Array<{ name: string; run: () => Promise<void> }> = [
    { name: 'true: direct spawn', run: () => direct(['/bin/true']) },
    { name: 'true: sandboxed', run: () => sandboxed(ws, ['/bin/true']) },
    { name: 'python script: direct spawn', run: () => direct([PYTHON, '-c', PY_SCRIPT]) },
    { name: 'python script: sandboxed', run: () => sandboxed(ws, [PYTHON, '-c', PY_SCRIPT]) },
  ];
  const samples = cases.map(() => [] as number[]);
  try {
    for (const c of cases) for (let i = 0; i < 3; i++) await c.run(); // warm caches and the availability probe
    for (let i = 0; i < iterations; i++) {
      for (let k = 0; k < cases.length; k++) {
        const t0 = performance.now();
        await cases[k].run();
        samples[k].push(performance.now() - t0);
      }
    }
  } finally {
    releaseWorkspaceMounts(root, true); // the workspace is a mounted filesystem (sandbox/quota.ts)
    fs.rmSync(root, { recursive: true, force: true });
  }
  const rows = cases.map((c, k) => row(c.name, samples[k]));
  // Overhead = sandboxed minus direct at the same percentile.
  const overhead = (name: string, a: BenchRow, b: BenchRow): BenchRow => ({
    name,
    p50Ms: Math.round((b.p50Ms - a.p50Ms) * 100) / 100,
    p99Ms: Math.round((b.p99Ms - a.p99Ms) * 100) / 100,
    n: a.n,
  });
  rows.push(overhead('true: sandbox overhead', rows[0], rows[1]), overhead('python script: sandbox overhead', rows[2], rows[3]));
  return rows;
}

if (require.main === module) {
  const iterations = Number(process.argv[2] ?? 50);
  benchSandbox(iterations)
    .then((rows) => {
      const w = Math.max(...rows.map((r) => r.name.length));
      process.stdout.write(`${'case'.padEnd(w)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}  ${'n'.padStart(5)}\n`);
      for (const r of rows) {
        process.stdout.write(`${r.name.padEnd(w)}  ${r.p50Ms.toFixed(2).padStart(8)}  ${r.p99Ms.toFixed(2).padStart(8)}  ${String(r.n).padStart(5)}\n`);
      }
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exitCode = 1;
    });
}
