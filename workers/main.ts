/**
 * `npm run worker`: runs agent sessions for the bundled agents until SIGINT/SIGTERM. With WORKER_HTTP_PORT set
 * it also serves the HTTP API (the same as `npm run http`) from this process, on the worker's own connection,
 * so sessions started over HTTP start eagerly (client/eager.ts).
 */
import { DEMO_AGENT_NAMES, demoAgents } from '../examples/agents';
import { authFromEnv } from '../client/http-auth';
import { listenHttpApi, portFromEnv } from '../client/http-listen';
import { loadDemoConfig } from '../runtime/config';
import { createAgentWorker } from './worker';

async function run(): Promise<void> {
  const config = loadDemoConfig();
  const httpPort = portFromEnv('WORKER_HTTP_PORT');
  const auth = httpPort ? authFromEnv() : undefined; // bad credentials settings fail before the worker starts
  const w = await createAgentWorker(demoAgents, config);
  // Worker.run() handles SIGINT/SIGTERM itself: it stops polling and waits for running tasks (grace period).
  console.log(`[worker] polling task queue '${config.TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS}`);
  if (httpPort && auth) {
    // Loaded only when asked for: a plain worker does not pay for the HTTP API's modules at start (a restart after a crash is quicker).
    const { buildHttpApi } = await import('../client/http-api');
    const app = await buildHttpApi(w.client, config, { auth, store: w.store, agents: DEMO_AGENT_NAMES });
    console.log(`[worker] HTTP API on ${await listenHttpApi(app, httpPort)} (sessions started here start eagerly)`);
    void w.done.finally(() => app.close());
  }
  await w.done;
  console.log('[worker] stopped');
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
