/** Helpers for the peers' processes (drivers, LangGraph worker, Restate service). Runs with examples/bench/peers/node_modules. */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import { epochMs, type DriverSetup, type IpcRequest, type IpcResponse, type SystemDriver, type ToolLogLine } from './protocol';

/** Every process a driver started, so that none outlives it. */
const started = new Set<ChildProcess>();

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..', '..');
export const MODEL = 'scripted-test-model';

/** The same client settings as the runtime's worker: no client-side retries, so every attempt is the system's own. */
export function openaiClient(baseURL: string): OpenAI {
  return new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 120_000 });
}

/** Appends synchronously so that the line is in the file before the tool returns, even if the process is killed next. */
export function logToolStart(file: string, sessionId: string, tool: string): void {
  const line: ToolLogLine = { sessionId, tool, t: epochMs(), pid: process.pid };
  appendFileSync(file, JSON.stringify(line) + '\n');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Spawns a TypeScript entry point in its own Node process (tsx from the project root) and waits for its READY line. */
export async function spawnTs(file: string, args: string[], env: Record<string, string>, readyTimeoutMs = 60_000): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(file)} not ready after ${readyTimeoutMs} ms:\n${stderr}`)), readyTimeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)} exited (${code ?? sig}) before ready:\n${stderr}`));
    });
  });
  // Keep draining stdout so a chatty child never blocks on a full pipe.
  child.stdout!.resume();
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

export async function killHard(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url} -> ${res.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Registers a process this driver started (not through spawnTs), so that it never outlives the driver. */
export function trackChild(child: ChildProcess): void {
  started.add(child);
  child.once('exit', () => started.delete(child));
}

function killAllStarted(): void {
  for (const c of started) c.kill('SIGKILL');
}

/** Serves a driver to the orchestrator over the Node IPC channel (the driver process is started with fork()). */
export function serveDriver(create: (setup: DriverSetup) => Promise<SystemDriver>): void {
  let driver: Promise<SystemDriver> | undefined;
  process.on('message', (msg: IpcRequest) => {
    void (async () => {
      const reply: IpcResponse = { id: msg.id };
      try {
        if (msg.method === 'setup') {
          driver = create(msg.args[0] as DriverSetup);
          await driver;
        } else {
          if (!driver) throw new Error('driver not set up');
          const d = (await driver) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
          reply.result = await d[msg.method](...msg.args);
        }
      } catch (err) {
        reply.error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
      }
      process.send!(reply);
      if (msg.method === 'close') setTimeout(() => process.exit(0), 50);
    })();
  });
  // The orchestrator died: never outlive it (its children would be orphans).
  process.on('disconnect', () => {
    killAllStarted();
    process.exit(0);
  });
  process.on('exit', killAllStarted);
}
