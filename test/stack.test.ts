/**
 * `npm run stack` itself, as a user runs it: the real command in a child process, then killed.
 * Needs the server binaries (built by `npm run test:stack` before jest starts), so it runs only with
 * AGENT_TEST_SERVER=stack; `npm test` skips it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Client as PgClient } from 'pg';
import { freeStackPorts, type StackState } from '../runtime/stack';
import { isAlive, waitGone } from '../runtime/stack/process';
import { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';
import { WORKFLOW_BUNDLE } from './support/paths';

const root = path.resolve(__dirname, '..');
const onStack = process.env.AGENT_TEST_SERVER === 'stack';

let dir: string;
let ports: { port: number; pgPort: number };
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'agent-runtime-stack-'));
  chmodSync(dir, 0o755); // PostgreSQL runs as another user and must reach its data dir below
  ports = await freeStackPorts();
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function runStack(extra: string[]): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(root, 'scripts', 'stack.ts'), '--data-dir', dir, '--port', String(ports.port), '--pg-port', String(ports.pgPort), ...extra],
    { cwd: root, env: { ...process.env, OPENAI_API_KEY: 'test-key', WORKFLOW_BUNDLE }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function waitUp(run: { child: ChildProcess; output: () => string }): Promise<StackState> {
  const deadline = Date.now() + 240_000;
  while (!/\[stack\] up in/.test(run.output())) {
    if (run.child.exitCode !== null) throw new Error(`npm run stack exited (${run.child.exitCode}):\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`npm run stack not up within 240 s; output:\n${run.output()}\nlogs in ${path.join(dir, 'logs')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return JSON.parse(readFileSync(path.join(dir, 'stack.json'), 'utf8')) as StackState;
}

(onStack ? describe : describe.skip)('npm run stack', () => {
  test('brings up PostgreSQL, the server with namespace and search attributes, and a worker; SIGKILL of the command takes all of it down', async () => {
    const run = runStack(['--workers', '1']);
    const state = await waitUp(run);
    expect(state.processes.map((p) => p.name)).toEqual(['postgres', 'temporal-server', 'worker-1']);

    const conn = await Connection.connect({ address: state.address });
    try {
      const attrs = (await conn.operatorService.listSearchAttributes({ namespace: 'default' })).customAttributes ?? {};
      expect(Object.keys(attrs).sort()).toEqual(Object.keys(SEARCH_ATTRIBUTES).sort());
    } finally {
      await conn.close();
    }
    const pg = new PgClient({ connectionString: state.pgUrl.replace(/\/agent_runtime$/, '/temporal') });
    await pg.connect();
    try {
      // Persistence really is PostgreSQL: the server registered the namespace in its tables.
      const { rows } = await pg.query("SELECT count(*)::int AS n FROM namespaces");
      expect(rows[0].n).toBeGreaterThanOrEqual(1);
    } finally {
      await pg.end();
    }

    run.child.kill('SIGKILL');
    // The supervisors notice their owner is gone (they poll every second) and stop what they run.
    for (const p of state.processes) expect(await waitGone(p.pid, 60_000)).toBe(true);
  });

  test('a second start reuses the databases; --stop from another process stops everything', async () => {
    const run = runStack(['--no-workers']);
    const state = await waitUp(run);
    expect(state.processes.map((p) => p.name)).toEqual(['postgres', 'temporal-server']);
    // The schema was set up once (first run); this run only checked it was current.
    const schemaLog = readFileSync(path.join(dir, 'logs', 'schema.log'), 'utf8');
    expect(schemaLog.match(/setup-schema/g)).toHaveLength(2); // temporal + temporal_visibility, first run only
    expect(schemaLog.match(/update-schema/g)).toHaveLength(4); // both databases, both runs

    const stop = runStack(['--stop']);
    const code = await new Promise<number | null>((r) => stop.child.once('exit', r));
    expect(code).toBe(0);
    expect(await waitGone(run.child.pid!, 10_000)).toBe(true);
    for (const p of state.processes) expect(isAlive(p.pid)).toBe(false);
    expect(existsSync(path.join(dir, 'stack.json'))).toBe(false);
  });
});
