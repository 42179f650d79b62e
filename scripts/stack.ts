/**
 * `npm run stack`: the production Temporal stack of docker-compose.yml, without Docker (see runtime/stack).
 *   npm run stack                     PostgreSQL + Temporal server v1.32.2 + 2 workers; Ctrl-C stops all of it
 *   npm run stack -- --workers 4      more workers;  --no-workers: only PostgreSQL and the server
 *   npm run stack -- --stop           stops a stack started from another terminal
 *   npm run stack -- --build-only     builds (or finds) the server binaries and exits
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { PROJECT_ROOT } from '../runtime/temporal-server';
import { ensureServerBinaries, readStackState, startStack, type StackState } from '../runtime/stack';
import { isAlive, waitGone } from '../runtime/stack/process';

const log = (msg: string): void => console.log(`[stack] ${msg}`);

async function stopRunning(dataDir: string): Promise<void> {
  const state = readStackState(dataDir);
  if (!state) {
    log(`no stack state in ${dataDir}: nothing to stop`);
    return;
  }
  if (isAlive(state.pid)) {
    log(`stopping the stack of pid ${state.pid} (workers, server, PostgreSQL)`);
    process.kill(state.pid, 'SIGTERM');
    if (!(await waitGone(state.pid, 90_000))) throw new Error(`pid ${state.pid} did not stop within 90 s; see ${path.join(dataDir, 'logs')}`);
  }
  // Its supervisors stop their processes once it is gone; make sure, whatever killed it.
  for (const p of state.processes) {
    if (!(await waitGone(p.pid, 30_000))) {
      log(`${p.name} (pid ${p.pid}) still running 30 s after its owner: SIGKILL`);
      process.kill(p.pid, 'SIGKILL');
    }
  }
  rmSync(path.join(dataDir, 'stack.json'), { force: true });
  log('stopped');
}

async function run(): Promise<void> {
  const opts = new Command('stack')
    .option('--workers <n>', 'agent workers to start', '2')
    .option('--no-workers', 'only PostgreSQL and the Temporal server')
    .option('--port <port>', 'Temporal frontend gRPC port', '7233')
    .option('--pg-port <port>', 'PostgreSQL port', '55432')
    .option('--data-dir <dir>', 'data and logs', path.join(PROJECT_ROOT, '.data', 'stack'))
    .option('--stop', 'stop a stack started by `npm run stack` in another terminal')
    .option('--build-only', 'build (or find) the Temporal server binaries and exit')
    .parse()
    .opts<{ workers: string | boolean; port: string; pgPort: string; dataDir: string; stop?: boolean; buildOnly?: boolean }>();
  const dataDir = path.resolve(opts.dataDir);

  if (opts.stop) return stopRunning(dataDir);
  if (opts.buildOnly) {
    const bin = await ensureServerBinaries({ log });
    log(`temporal-server: ${bin.server}`);
    log(`temporal-sql-tool: ${bin.sqlTool}`);
    return;
  }
  const prev = readStackState(dataDir);
  if (prev && isAlive(prev.pid)) throw new Error(`a stack is already running from pid ${prev.pid} at ${prev.address}; stop it with npm run stack -- --stop`);

  const workers = opts.workers === false ? 0 : Number(opts.workers === true ? 2 : opts.workers);
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`--workers must be a whole number (got ${opts.workers})`);
  if (workers > 0 && !process.env.OPENAI_API_KEY && !process.env.OPENAI_BASE_URL) {
    // A worker without a model endpoint would take sessions from the shared task queue and fail them
    // (401 is not retried), including sessions of an `npm start` that reuses this server on 7233.
    throw new Error(
      'the workers need a model endpoint: set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, AGENT_MODEL), ' +
        'or run `npm run stack -- --no-workers` and the offline demo against it: TEMPORAL_ADDRESS=127.0.0.1:7233 npm start',
    );
  }
  const t0 = Date.now();
  const stack = await startStack({ dataDir, port: Number(opts.port), pgPort: Number(opts.pgPort), workers, log });

  mkdirSync(dataDir, { recursive: true });
  const state: StackState = { pid: process.pid, address: stack.address, pgUrl: stack.pgUrl, processes: stack.processes() };
  writeFileSync(path.join(dataDir, 'stack.json'), JSON.stringify(state, null, 2));
  log(`up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`
  Temporal:    ${stack.address} (namespace ${stack.namespace}; server ${stack.binaries.version}, pid ${stack.serverPid})
  PostgreSQL:  ${stack.pgUrl.replace(/:[^:@/]+@/, ':***@')} (+ temporal, temporal_visibility)
  Workers:     ${workers} (session and memory stores on PostgreSQL)
  Logs:        ${stack.logsDir}

  Clients:     TEMPORAL_ADDRESS=${stack.address} npm run session:start -- -t "..."   (npm run approve, npm run http likewise)
  Stop:        Ctrl-C here, or npm run stack -- --stop
`);

  let stopping = false;
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping workers, server, PostgreSQL...`);
    await stack.stop();
    rmSync(path.join(dataDir, 'stack.json'), { force: true });
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('Ctrl-C'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // A process that dies on its own is reported, not silently restarted: a stack with a dead part is not up.
  const watch = setInterval(() => {
    const dead = stack.failed();
    if (dead && !stopping) {
      clearInterval(watch);
      console.error(`[stack] ${dead}`);
      void shutdown('a process exited');
    }
  }, 1000);
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
