/**
 * What the peers' bench processes share with the orchestrator (examples/bench/peers.ts). No imports: this file is
 * type-checked by both the root tsconfig and examples/bench/peers/tsconfig.json, which see different node_modules.
 */

/** The one agent every system runs: instructions, and two tools with the same JSON schemas everywhere. */
export const BENCH_INSTRUCTIONS = 'You run benchmark steps with the noop tool, then ask for the approved_action when told.';

export const BENCH_TOOLS = [
  {
    type: 'function' as const,
    function: {
      name: 'noop',
      description: 'Does nothing (one agent step).',
      parameters: { type: 'object', properties: { i: { type: 'number' } }, required: ['i'], additionalProperties: false },
    },
  },
  {
    type: 'function' as const,
    function: {
      name: 'approved_action',
      description: 'A write-effect action that needs a human approval first.',
      parameters: { type: 'object', properties: { item: { type: 'string' } }, required: ['item'], additionalProperties: false },
    },
  },
];

/** The task carries the session id and the shape of the run, so the scripted model answers every system alike. */
export function benchTask(sessionId: string, steps: number, approval: boolean): string {
  return `bench session=${sessionId} steps=${steps} approval=${approval ? 1 : 0}`;
}

export function parseBenchTask(text: string): { sessionId: string; steps: number; approval: boolean } | undefined {
  const m = /bench session=(\S+) steps=(\d+) approval=([01])/.exec(text);
  return m ? { sessionId: m[1], steps: Number(m[2]), approval: m[3] === '1' } : undefined;
}

/** Wall-clock time with sub-millisecond resolution, comparable across processes on one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** One line per tool start in a system's tool log (JSON lines, appended by the process running the tool). */
export interface ToolLogLine {
  sessionId: string;
  tool: string;
  t: number;
  pid: number;
}

/** The operations every system under test offers the orchestrator (in-process for the runtime, over IPC for peers). */
export interface SystemDriver {
  readonly name: string;
  /** Server process (absent for LangGraph) and worker/service processes: CPU and RSS are read from /proc for these. */
  pids(): Promise<{ server?: number; workers: number[] }>;
  /** Runs each session to its answer, one after the other (no approval). */
  runSessions(ids: string[], steps: number): Promise<void>;
  /** Starts all (at most `concurrency` starts in flight) and resolves once every one is parked on its approval. */
  startParked(ids: string[], concurrency: number): Promise<void>;
  /** Sends the approvals (at most `concurrency` in flight); returns when each was sent (epoch ms, taken just before the send). */
  approve(ids: string[], concurrency: number): Promise<Record<string, number>>;
  /** Resolves once every session has its answer; returns how many completed. */
  waitDone(ids: string[], timeoutMs: number): Promise<number>;
  /** SIGKILL the worker (LangGraph: the process holding the graph; Restate: the SDK service process). */
  killWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface DriverSetup {
  modelBaseUrl: string;
  toolLog: string;
  dir: string;
  /** Variant flag, e.g. LangGraph with synchronous=FULL. */
  variant?: string;
}

export type IpcRequest = { id: number; method: string; args: unknown[] };
export type IpcResponse = { id: number; result?: unknown; error?: string };
