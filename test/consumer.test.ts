/**
 * A consumer of the published package: `npm run build`, `npm pack`, then a throwaway project outside the
 * repository installs the tarball, type-checks the README's quickstart (examples/quickstart, included in the
 * README verbatim) against the package's declarations, and runs it: a worker built with Worker.create and
 * AgentRuntimePlugin next to the project's own workflow, on its own task queue, against a real dev server
 * and the scripted model server; the client starts a session, approves the gated tool and gets the answer.
 *
 * Install: by default the tarball is unpacked into the project's node_modules and the dependencies the
 * package declares are linked from this repository's node_modules (offline, seconds; a dependency the
 * package uses but does not declare fails to resolve). CONSUMER_NPM_INSTALL=1 runs a real `npm install`
 * of the tarball instead (minutes: it builds better-sqlite3).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHarness, type Harness } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const EXAMPLE = path.join(ROOT, 'examples', 'quickstart');
const EXAMPLE_FILES = ['agent.ts', 'workflows.ts', 'worker.ts', 'client.ts'];
/** What the quickstart imports itself (besides agent-runtime). */
const CONSUMER_DEPS = ['@temporalio/client', '@temporalio/worker', '@temporalio/workflow', '@temporalio/envconfig', 'zod', 'tsx', 'typescript', '@types/node'];

let h: Harness;
let project: string;
let packDir: string;
let worker: ChildProcess | undefined;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** Async: the scripted model server and the dev server's client live in this process and must keep answering. */
function runAsync(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 150_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function link(nodeModules: string, name: string): void {
  const target = path.join(ROOT, 'node_modules', name);
  if (!existsSync(target)) throw new Error(`${name} is not installed in ${ROOT}/node_modules (npm ci first)`);
  const at = path.join(nodeModules, name);
  if (existsSync(at)) return;
  mkdirSync(path.dirname(at), { recursive: true });
  symlinkSync(target, at, 'dir');
}

function installTarball(tarball: string): void {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true, dependencies: { 'agent-runtime': `file:${tarball}` } }, null, 2),
  );
  const nm = path.join(project, 'node_modules');
  if (process.env.CONSUMER_NPM_INSTALL === '1') {
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], project);
  } else {
    const pkg = path.join(nm, 'agent-runtime');
    mkdirSync(pkg, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1'], project);
    for (const dep of Object.keys(manifest.dependencies)) link(nm, dep);
  }
  for (const dep of CONSUMER_DEPS) link(nm, dep);
}

beforeAll(async () => {
  const out = (packDir = mkdtempSync(path.join(os.tmpdir(), 'agent-runtime-pack-')));
  run('npm', ['run', 'build'], ROOT);
  const packed = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = path.join(out, packed[0].filename);
  // The package ships the compiled code and the scripts it runs, never sources, tests or demo data.
  const shipped = packed[0].files.map((f) => f.path);
  expect(shipped).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/workflows/worker-entry.js', 'scripts/embeddings/setup.sh']));
  expect(shipped.filter((f) => /^(test|bench|agents|examples)\/|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);

  project = mkdtempSync(path.join(os.tmpdir(), 'agent-runtime-consumer-'));
  expect(path.relative(ROOT, project).startsWith('..')).toBe(true);
  for (const f of EXAMPLE_FILES) cpSync(path.join(EXAMPLE, f), path.join(project, f));
  installTarball(tarball);

  h = await createHarness([
    { toolCalls: [{ name: 'issue_refund', arguments: { orderId: '991', amountEur: 250 } }] },
    { content: 'Refunded 250 EUR for order 991.' },
  ]);
}, 300_000);

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    const gone = new Promise((r) => worker!.once('exit', r));
    worker.kill('SIGTERM');
    await gone;
  }
  await h?.close();
  if (project) rmSync(project, { recursive: true, force: true });
  if (packDir) rmSync(packDir, { recursive: true, force: true });
});

test("the README's quickstart is examples/quickstart, verbatim", () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const f of EXAMPLE_FILES) {
    const code = readFileSync(path.join(EXAMPLE, f), 'utf8');
    expect({ file: f, inReadme: readme.includes('```ts\n' + `// ${f}\n` + code + '```') }).toEqual({ file: f, inReadme: true });
  }
});

test('every entry point of the installed package resolves and loads from the project', () => {
  const entries = ['agent-runtime', 'agent-runtime/workflow', 'agent-runtime/worker', 'agent-runtime/client', 'agent-runtime/sandbox', 'agent-runtime/memory', 'agent-runtime/testing'];
  const script = `for (const e of ${JSON.stringify(entries)}) { const m = require(e); console.log(e, Object.keys(m).length); }`;
  const out = run(process.execPath, ['-e', script], project);
  for (const e of entries) expect(out).toMatch(new RegExp(`^${e} [1-9]\\d*$`, 'm'));
  // Deep imports are not part of the API.
  expect(() => run(process.execPath, ['-e', "require('agent-runtime/runtime/agent')"], project)).toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

test("the quickstart type-checks against the package's declarations", () => {
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'node16', moduleResolution: 'node16', target: 'ES2022', types: ['node'], noEmit: true, skipLibCheck: true }, files: EXAMPLE_FILES }),
  );
  run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], project);
});

test('a worker with the plugin next to its own workflow completes a session with an approval', async () => {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: h.env.TEMPORAL_ADDRESS,
    OPENAI_BASE_URL: h.env.OPENAI_BASE_URL,
    OPENAI_API_KEY: 'test-key',
  };
  worker = spawn(process.execPath, ['--import', 'tsx', 'worker.ts'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  worker.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await new Promise<void>((resolve, reject) => {
    worker!.stdout!.on('data', (d: Buffer) => d.toString().includes('worker polling support-app') && resolve());
    worker!.once('exit', (code) => reject(new Error(`consumer worker exited ${code}:\n${log}`)));
  });

  worker.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  let out: string;
  try {
    out = await runAsync(process.execPath, ['--import', 'tsx', 'client.ts'], project, env);
  } catch (err) {
    const handles = await h.client.workflow.list({ query: 'TaskQueue="support-app"' });
    const histories: string[] = [];
    for await (const wf of handles) {
      const events = (await h.client.workflow.getHandle(wf.workflowId).fetchHistory()).events ?? [];
      histories.push(`${wf.workflowId}: ${JSON.stringify(events.slice(-6)).slice(0, 3000)}`);
    }
    throw new Error(`${(err as Error).message}\nmodel requests: ${h.model.requests.length}\nworker log:\n${log.slice(-3000)}\n${histories.join('\n')}`);
  }
  const result = JSON.parse(out.trim().split('\n').pop()!) as Record<string, string>;
  expect(result).toEqual({ tool: 'issue_refund', status: 'completed', answer: 'Refunded 250 EUR for order 991.', order: 'order 991: shipped' });
  // The tool ran once, after the approval, and the model saw its result.
  const toolMessages = h.model.requests.flatMap((r) => r.messages).filter((m) => m.role === 'tool');
  expect(toolMessages).toHaveLength(1);
  expect(String(toolMessages[0].content)).toContain('"refunded":"991"');
  // The data the worker wrote is the project's, under its working directory.
  expect(existsSync(path.join(project, '.data', 'sessions.sqlite'))).toBe(true);
  expect(readdirSync(path.join(project, 'node_modules', 'agent-runtime')).includes('.data')).toBe(false);
}, 180_000);
