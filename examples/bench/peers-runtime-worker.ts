/**
 * This runtime's worker for `npm run bench:peers`, in its own process so that its CPU and RSS are its own and SIGKILL is real.
 * With BENCH_HTTP_PORT it also serves the HTTP API on the worker's own connection (as `WORKER_HTTP_PORT=... npm run worker`
 * does), so sessions started over HTTP start eagerly.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAgentWorker, loadConfig } from 'agent-runtime/worker';
import { benchPeerAgent } from './peers-runtime-agent';

async function run(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const config = loadConfig();
  const w = await createAgentWorker([benchPeerAgent], config);
  const port = Number(process.env.BENCH_HTTP_PORT ?? 0);
  const key = process.env.BENCH_HTTP_KEY;
  if (port && key) {
    // Loaded only here: a worker without HTTP does not pay for the HTTP API's modules at start.
    const { buildHttpApi, sha256Hex } = await import('agent-runtime/client');
    const auth = { keys: { keys: [{ id: 'bench', sha256: sha256Hex(key), identity: { id: 'bench', groups: [], roles: ['starter' as const] } }] } };
    const app = await buildHttpApi(w.client, config, { auth, store: w.store, agents: [benchPeerAgent.name] });
    await app.listen({ port, host: '127.0.0.1' });
    void w.done.finally(() => app.close());
  }
  process.stdout.write('WORKER_READY\n');
  await w.done;
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
