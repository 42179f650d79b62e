/** A worker in its own process, so crash tests can SIGKILL a real worker. Configured through env. */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { demoAgents } from '../../examples/agents';
import { createAgentWorker } from '../../workers/worker';
import { testAgents } from './agents';

async function run(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const w = await createAgentWorker((deps) => [...demoAgents(deps), ...testAgents(deps)]);
  process.stdout.write('WORKER_READY\n');
  await w.done;
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
