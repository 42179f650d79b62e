import { NativeConnection, Worker } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { AgentRuntimePlugin, openSessionStore } from 'agent-runtime/worker';
import { supportAgent, TASK_QUEUE } from './agent';

async function main(): Promise<void> {
  // TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_API_KEY / TEMPORAL_TLS* or a TEMPORAL_PROFILE.
  const { connectionOptions, namespace } = loadClientConnectConfig();
  const connection = await NativeConnection.connect(connectionOptions);
  const worker = await Worker.create({
    connection,
    namespace: namespace ?? 'default',
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
    plugins: [
      new AgentRuntimePlugin({
        agents: [supportAgent],
        store: openSessionStore('sqlite:.data/sessions.sqlite'),
        model: { baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, defaultModel: 'gpt-4.1-mini' },
      }),
    ],
  });
  console.log(`worker polling ${TASK_QUEUE}`);
  await worker.run(); // until SIGINT/SIGTERM
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
