/** This runtime's worker for `npm run bench:peers`, in its own process so that its CPU and RSS are its own and SIGKILL is real. */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createAgentWorker } from 'agent-runtime/worker';
import { benchPeerAgent } from './peers-runtime-agent';

async function run(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const w = await createAgentWorker([benchPeerAgent]);
  process.stdout.write('WORKER_READY\n');
  await w.done;
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
