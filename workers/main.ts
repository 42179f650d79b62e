/** `npm run worker`: runs agent sessions for the bundled agents until SIGINT/SIGTERM. */
import { demoAgents } from '../examples/agents';
import { loadDemoConfig } from '../runtime/config';
import { createAgentWorker } from './worker';

async function run(): Promise<void> {
  const config = loadDemoConfig();
  const { done } = await createAgentWorker(demoAgents, config);
  // Worker.run() handles SIGINT/SIGTERM itself: it stops polling and waits for running tasks (grace period).
  console.log(`[worker] polling task queue '${config.TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS}`);
  await done;
  console.log('[worker] stopped');
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
