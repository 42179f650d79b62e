/**
 * Approval notifications: a real loopback webhook receiver that fails the first delivery and accepts the
 * second; Temporal's retry policy brings the notice through, signed with HMAC-SHA256.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applicationScript } from '../examples/agents/application/script';
import { startSession, waitForState } from '../client/sessions';
import { createHarness, type Harness } from './support/harness';

const SECRET = 'webhook-secret-for-tests-0123456789';
let h: Harness;
let receiver: Server;
const deliveries: Array<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> = [];
let arrived: () => void;
const accepted = new Promise<void>((resolve) => (arrived = resolve));

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // The first delivery fails (the receiver is "down"), the next ones are accepted.
      const status = deliveries.length === 0 ? 503 : 204;
      deliveries.push({ status, headers: req.headers, body });
      res.writeHead(status).end();
      if (status === 204) arrived();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/approvals`;
  // The in-process worker reads the notifier settings from this process's environment.
  Object.assign(process.env, { NOTIFY_WEBHOOK_URL: url, NOTIFY_WEBHOOK_SECRET: SECRET, PUBLIC_API_URL: 'http://api.example.test:8080' });
  h = await createHarness(applicationScript);
  await h.startWorker();
});
afterAll(async () => {
  for (const k of ['NOTIFY_WEBHOOK_URL', 'NOTIFY_WEBHOOK_SECRET', 'PUBLIC_API_URL']) delete process.env[k];
  await h?.close();
  await new Promise((r) => receiver?.close(r));
});

test('an approval request reaches the webhook, signed, after a failed first attempt', async () => {
  const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.', userId: 'u-notify' }, h.config);
  const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
  const approval = st.pendingApprovals[0];
  await accepted;

  expect(deliveries.map((d) => d.status)).toEqual([503, 204]);
  const ok = deliveries[1];
  const ts = String(ok.headers['x-agent-runtime-timestamp']);
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${ok.body}`).digest('hex')}`;
  const got = String(ok.headers['x-agent-runtime-signature']);
  expect(timingSafeEqual(Buffer.from(got), Buffer.from(expected))).toBe(true);
  // The retry sent the same notice again.
  expect(JSON.parse(deliveries[0].body).approval).toEqual(JSON.parse(ok.body).approval);
  expect(JSON.parse(ok.body)).toEqual({
    type: 'approval_requested',
    approval: {
      sessionId: s.sessionId,
      approvalId: approval.approvalId,
      agent: 'application-processor',
      tool: 'send_decision',
      args: approval.args,
      argsHash: approval.argsHash,
      reason: approval.reason,
      approverGroup: 'approvers',
      deadline: approval.deadline,
      userId: 'u-notify',
    },
    links: {
      inbox: 'http://api.example.test:8080/inbox',
      decide: `http://api.example.test:8080/approvals/${approval.approvalId}`,
      webUi: `${h.config.WEB_UI_URL}/namespaces/default/workflows/${s.sessionId}`,
    },
  });
  // The session waited on its approver meanwhile, untouched by the failed delivery.
  // Temporal's retry policy did the retrying: the activity completed on its second attempt.
  let started: number | undefined;
  while (started === undefined) {
    const events = (await h.client.workflow.getHandle(s.sessionId).fetchHistory()).events ?? [];
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifyApproval');
    const start = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled?.eventId));
    started = start?.activityTaskStartedEventAttributes?.attempt ?? undefined;
    if (started === undefined) await new Promise((r) => setTimeout(r, 200));
  }
  expect(started).toBe(2);
  expect((await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval')).pendingApprovals).toHaveLength(1);
});
