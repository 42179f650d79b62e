/** Starts an agent session and prints its id and Web UI link. */
import { Command } from 'commander';
import { loadDemoConfig } from '../runtime/config';
import { connectClient, startSession } from './sessions';

async function run(): Promise<void> {
  const program = new Command('start-session')
    .requiredOption('-a, --agent <name>', 'registered agent name', 'application-processor')
    .requiredOption('-t, --task <text>', 'the task for the agent')
    .option('-u, --user <id>', 'user the session belongs to')
    .option('--id <sessionId>', 'session (workflow) id; random when omitted')
    .option('-w, --wait', 'wait for the result')
    .parse();
  const opts = program.opts<{ agent: string; task: string; user?: string; id?: string; wait?: boolean }>();
  const config = loadDemoConfig();
  const client = await connectClient(config);
  const s = await startSession(client, { agent: opts.agent, task: opts.task, userId: opts.user, sessionId: opts.id }, config);
  console.log(`session: ${s.sessionId}`);
  console.log(`web ui:  ${s.webUi}`);
  if (opts.wait) console.log(JSON.stringify(await s.handle.result(), null, 2));
  await client.connection.close();
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
