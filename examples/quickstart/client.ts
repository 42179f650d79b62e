import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { createSessionClient } from 'agent-runtime/client';
import { TASK_QUEUE } from './agent';
import { orderStatus } from './workflows';

async function main(): Promise<void> {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  const client = new Client({ connection: await Connection.connect(connectionOptions), namespace });
  const sessions = createSessionClient({ client, taskQueue: TASK_QUEUE });

  const { sessionId, handle } = await sessions.start({ agent: 'support', task: 'Refund order 991, 250 EUR', userId: 'u-42' });
  await sessions.waitForState(sessionId, (s) => s.status === 'awaiting_approval');
  const [pending] = await sessions.pendingApprovals(sessionId);
  await sessions.decideApproval(sessionId, { approvalId: pending.approvalId, decision: 'approve', approver: 'alice' });
  const result = await handle.result();

  // The application's own workflow, on the same worker.
  const status = await client.workflow.execute(orderStatus, { taskQueue: TASK_QUEUE, workflowId: `status-${sessionId}`, args: ['991'] });
  console.log(JSON.stringify({ tool: pending.tool, status: result.status, answer: result.finalAnswer, order: status }));
  await client.connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
