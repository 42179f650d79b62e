/** The built-in tools, run the way the activity runs them (input parsed by the zod schema, a ToolContext). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toolSpec, type ToolDefinition } from '../../runtime/agent';
import { sandboxTools, shellTool, runPythonTool, runNodeTool, readFileTool, writeFileTool, listFilesTool } from '../../sandbox/tools';
import { finalCgroupCheck, makeTempRoot, marker, processesWithMarker, toolContext, waitFor } from './helpers';

const tmp = makeTempRoot('tools');
const ws = tmp.workspace('session');

afterAll(async () => {
  expect(await finalCgroupCheck()).toEqual([]);
  tmp.cleanup();
});

async function call(tool: ToolDefinition, args: unknown, ctx = toolContext(ws)): Promise<Record<string, unknown>> {
  return (await tool.run(tool.input.parse(args), ctx)) as Record<string, unknown>;
}

test('sandboxTools returns the six tools with valid specs and an activity timeout above the sandbox timeout', () => {
  const tools = sandboxTools({ limits: { timeoutMs: 5000 } });
  expect(tools.map((t) => t.name)).toEqual(['shell', 'run_python', 'run_node', 'read_file', 'write_file', 'list_files']);
  for (const t of tools) {
    const spec = toolSpec(t);
    expect(spec.parameters).toHaveProperty('type', 'object');
  }
  expect(toolSpec(tools[0]).timeoutMs).toBeGreaterThan(5000);
});

test('shell runs bash in /workspace and returns a small JSON-able result', async () => {
  const r = await call(shellTool(), { command: 'pwd; echo oops >&2; exit 3' });
  expect(r).toMatchObject({ exitCode: 3, stdout: '/workspace\n', stderr: 'oops\n', timedOut: false, killedReason: null });
  expect(JSON.parse(JSON.stringify(r))).toEqual(r);
});

test('run_python and run_node run code and share the workspace with the file tools', async () => {
  await call(writeFileTool(), { path: 'in/data.json', content: '{"n": 20}' });
  const py = await call(runPythonTool(), { code: 'import json\nprint(json.load(open("in/data.json"))["n"] + 1)' });
  expect(py).toMatchObject({ exitCode: 0, stdout: '21\n' });
  const js = await call(runNodeTool(), { code: 'const fs = require("fs"); fs.writeFileSync("out.txt", String(JSON.parse(fs.readFileSync("in/data.json")).n * 2))' });
  expect(js).toMatchObject({ exitCode: 0 });
  expect(await call(readFileTool(), { path: 'out.txt' })).toMatchObject({ content: '40' });
  const list = await call(listFilesTool(), { recursive: true });
  expect((list.entries as Array<{ path: string }>).map((e) => e.path)).toEqual(['in', 'in/data.json', 'out.txt']);
});

test('run_node reports a JS heap error rather than being silently OOM-killed', async () => {
  const r = await call(runNodeTool({ limits: { memoryBytes: 256 * 1024 * 1024 } }), { code: 'const a = []; for (;;) a.push({ x: new Array(1000).fill(1) })' });
  expect(r.exitCode).not.toBe(0);
  expect(String(r.stderr)).toMatch(/heap out of memory/i);
});

test('stdin and per-call timeouts (capped by the configured limit)', async () => {
  expect(await call(shellTool(), { command: 'tr a-z A-Z', stdin: 'shout' })).toMatchObject({ stdout: 'SHOUT' });
  const r = await call(shellTool({ limits: { timeoutMs: 600 } }), { command: 'sleep 10', timeoutMs: 60_000 });
  expect(r).toMatchObject({ timedOut: true, killedReason: 'timeout' });
});

test('sandboxed code never receives a secret: the option is refused with the host-side alternative', async () => {
  // @ts-expect-error secrets is no longer an option of sandbox tools
  expect(() => shellTool({ secrets: ['API_TOKEN'] })).toThrow(/no longer receive secrets.*fetchWithSecret/);
  const secret = 'sk-live-abcdef0123456789';
  // Even a context that carries a secret (a tool built by hand) does not export it into the sandbox.
  const r = await call(shellTool(), { command: 'printenv API_TOKEN || echo absent; env | grep -c sk-live || true' }, toolContext(ws, { secrets: { API_TOKEN: secret } }));
  expect(String(r.stdout)).toBe('absent\n0\n');
});

test('cancellation through ctx.signal kills the command', async () => {
  const mark = marker('toolcancel');
  const ac = new AbortController();
  const p = call(shellTool(), { command: `touch tool-ready; exec -a ${mark} sleep 1000` }, toolContext(ws, { signal: ac.signal }));
  expect(await waitFor(() => fs.existsSync(path.join(ws, 'tool-ready')), 10_000)).toBe(true);
  ac.abort();
  expect(await p).toMatchObject({ killedReason: 'cancelled' });
  expect(await waitFor(() => processesWithMarker(mark).length === 0, 3000)).toBe(true);
});

test('input schemas reject bad arguments', () => {
  expect(shellTool().input.safeParse({}).success).toBe(false);
  expect(runPythonTool().input.safeParse({ code: 'x'.repeat(200 * 1024) }).success).toBe(false);
  expect(readFileTool().input.safeParse({ path: '' }).success).toBe(false);
});

test('file tools refuse escapes with a clear message', async () => {
  await expect(call(readFileTool(), { path: '../../etc/passwd' })).rejects.toThrow(/must stay inside the workspace/);
  await expect(call(writeFileTool(), { path: '/etc/passwd', content: 'x' })).rejects.toThrow(/outside the workspace/);
});

test.each([
  ['bwrap missing', '/nonexistent/bwrap', /sandbox unavailable: bubblewrap \(bwrap\) is not installed\. Fix: install bubblewrap/],
  ['namespaces not creatable', '/bin/false', /sandbox unavailable: bubblewrap cannot create the sandbox namespaces.*Fix: allow unprivileged user namespaces/s],
])('an unusable sandbox (%s) makes the command tools fail with the reason and the fix', (_name, bwrap, expected) => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/unavailable.ts'), tmp.workspace()], {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...process.env, AGENT_SANDBOX_BWRAP: bwrap },
    encoding: 'utf8',
  });
  const result = JSON.parse(out) as { check: { ok: boolean; reason?: string; fix?: string }; error: string };
  expect(result.check.ok).toBe(false);
  expect(result.check.fix).toBeTruthy();
  expect(result.error).toMatch(expected);
});
