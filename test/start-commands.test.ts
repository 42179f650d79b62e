/**
 * `npm start` as a user runs it: on ports given with --port/--ui-port it prints the server address and
 * an approve command that pastes as it is (absolute path, no placeholder); pasting it into a shell
 * decides the approval and the demo finishes. A taken port gives the remedy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { killAndWait, PROJECT_ROOT } from '../runtime/temporal-server';
import { freePort, WORKFLOW_BUNDLE } from './support/harness';

const children: ChildProcess[] = [];
const pidFiles: string[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function npmStart(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  const env: NodeJS.ProcessEnv = { ...process.env, WORKFLOW_BUNDLE, AGENT_STORE_URL: `sqlite:${path.join(PROJECT_ROOT, '.data', `start-test-${process.pid}.sqlite`)}` };
  delete env.TEMPORAL_ADDRESS;
  delete env.OPENAI_API_KEY;
  delete env.WEB_UI_URL;
  const child = spawn(process.execPath, [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'scripts', 'start.ts'), ...args], { env, cwd: PROJECT_ROOT });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  return { child, output: () => out, exited };
}

async function until(pred: () => boolean, what: string, output: () => string, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output so far:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the printed approve command pastes as it is and the demo finishes', async () => {
  const port = await freePort();
  const uiPort = await freePort();
  pidFiles.push(path.join(PROJECT_ROOT, '.data', `temporal-${port}.pid`));
  const run = npmStart(['--port', String(port), '--ui-port', String(uiPort), '--stop-server']);
  try {
    await until(() => /Waiting for the decision/.test(run.output()), 'the approval pause', run.output);
    const out = run.output();
    expect(out).toContain(`Temporal: 127.0.0.1:${port}`);
    expect(out).toContain(`Web UI:   http://localhost:${uiPort}`);
    expect(out).toContain(`http://localhost:${uiPort}/namespaces/default/workflows/`);
    expect(out).not.toMatch(/<[a-z-]+>/); // no <placeholder> anywhere
    const approve = out.split('\n').map((l) => l.trim()).find((l) => l.includes('/bin/agentctl '));
    expect(approve).toBeDefined();
    expect(approve!.startsWith(`${PROJECT_ROOT}/bin/agentctl --address 127.0.0.1:${port} approve `)).toBe(true);
    const temporalLine = out.split('\n').map((l) => l.trim()).find((l) => l.includes(' workflow signal '));
    if (temporalLine) expect(path.isAbsolute(temporalLine.split(' ')[0])).toBe(true);

    // Pasted into a shell in another directory, as is.
    const pasted = spawn('sh', ['-c', approve!], { cwd: '/tmp', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
    let pastedOut = '';
    pasted.stdout.on('data', (d: Buffer) => (pastedOut += d.toString()));
    pasted.stderr.on('data', (d: Buffer) => (pastedOut += d.toString()));
    const code = await new Promise<number>((r) => pasted.once('exit', (c) => r(c ?? 1)));
    expect({ code, pastedOut }).toEqual({ code: 0, pastedOut: expect.stringMatching(/^approved: send_decision \(.*\) by /) });
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/Session completed after \d+ model steps/);
    expect(run.output()).toMatch(/Approvals: send_decision: approved by /);
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  }
}, 300_000);

test('a taken port is refused with the remedy: a free port to pass instead', async () => {
  const blocker = createServer();
  const port = await freePort();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    const run = npmStart(['--port', String(port)]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(new RegExp(`port ${port} is taken by something that is not a healthy Temporal server\\. Use another port: npm start -- --port (\\d+)`));
    const suggested = Number(/npm start -- --port (\d+)/.exec(run.output())![1]);
    expect(suggested).not.toBe(port);
  } finally {
    blocker.close();
  }
}, 120_000);

afterAll(async () => {
  // --stop-server stops the dev server; a failed run may have left it: its pid file says which.
  const { readFileSync } = await import('node:fs');
  for (const f of pidFiles) {
    try {
      await killAndWait(Number(readFileSync(f, 'utf8')));
    } catch {
      /* already gone */
    }
    rmSync(f, { force: true });
    const port = /temporal-(\d+)\.pid$/.exec(f)![1];
    for (const suffix of ['.db', '.db-shm', '.db-wal']) rmSync(path.join(PROJECT_ROOT, '.data', `temporal-${port}${suffix}`), { force: true });
    rmSync(path.join(PROJECT_ROOT, '.data', `temporal-${port}.log`), { force: true });
  }
  rmSync(path.join(PROJECT_ROOT, '.data', `start-test-${process.pid}.sqlite`), { force: true });
});
