/**
 * Sends an approval decision to a waiting session from any process (the path another service takes).
 *   npm run approve -- <sessionId> --approver alice [--reject] [--comment "..."] [--approval-id <id>] [--update]
 */
import { Command } from 'commander';
import { loadConfig } from '../runtime/config';
import { connectClient, decideApproval, pendingApprovals, signalApproval } from './sessions';

async function run(): Promise<void> {
  const program = new Command('approve')
    .argument('<sessionId>', 'the session (workflow id)')
    .requiredOption('--approver <name>', 'who decides (kept in the transcript)')
    .option('--approval-id <id>', 'which pending approval; defaults to the only pending one')
    .option('--reject', 'reject instead of approve')
    .option('--comment <text>', 'reason or note for the model')
    .option('--update', 'send as the decideApproval Update (waits for the answer) instead of the approval signal')
    .parse();
  const [sessionId] = program.args;
  const opts = program.opts<{ approver: string; approvalId?: string; reject?: boolean; comment?: string; update?: boolean }>();
  const client = await connectClient(loadConfig());
  let approvalId = opts.approvalId;
  if (!approvalId) {
    // From the session's memo (the server answers; no worker needed), never a state query first.
    const pending = await pendingApprovals(client, sessionId);
    if (pending.length !== 1) {
      throw new Error(
        `session ${sessionId} has ${pending.length} pending approvals` +
          (pending.length ? `: ${pending.map((a) => a.approvalId).join(', ')}; pass --approval-id` : ''),
      );
    }
    approvalId = pending[0].approvalId;
  }
  const decision = {
    approvalId,
    decision: opts.reject ? ('reject' as const) : ('approve' as const),
    approver: opts.approver,
    ...(opts.comment ? { comment: opts.comment } : {}),
  };
  if (opts.update) {
    const record = await decideApproval(client, sessionId, decision);
    console.log(`${record.status}: ${record.tool} (${record.approvalId}) by ${record.approver}`);
  } else {
    await signalApproval(client, sessionId, decision);
    console.log(`sent ${decision.decision} for ${approvalId} to ${sessionId}`);
  }
  await client.connection.close();
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
