/**
 * Notifiers: when a session asks a human for an approval, the workflow schedules `notifyApproval`, which
 * tells the configured notifiers (a log line always; a webhook when NOTIFY_WEBHOOK_URL is set) with the
 * approval and links to the inbox and the Web UI. A failed delivery throws, so Temporal retries it with
 * the activity's retry policy; the approval itself never waits for a notification.
 */
import { createHmac } from 'node:crypto';
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';

export interface ApprovalNotice {
  sessionId: string;
  approvalId: string;
  agent: string;
  tool: string;
  args: unknown;
  argsHash: string;
  reason: string;
  approverGroup: string;
  deadline: string;
  userId?: string;
}

export interface NotifierConfig {
  webhookUrl?: string;
  /** HMAC-SHA256 key; the signature goes in the `x-agent-runtime-signature` header as `sha256=<hex>`. */
  webhookSecret?: string;
  /** Base URL of the HTTP API (the inbox link); absent: no inbox link. */
  publicApiUrl?: string;
  webUiUrl: string;
  namespace: string;
  /** Per delivery attempt. */
  timeoutMs: number;
}

const Env = z.object({
  NOTIFY_WEBHOOK_URL: z.string().url().optional(),
  NOTIFY_WEBHOOK_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  NOTIFY_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(10_000),
  PUBLIC_API_URL: z.string().url().optional(),
  WEB_UI_URL: z.string().default('http://localhost:8233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
});

export function notifierConfigFromEnv(env: NodeJS.ProcessEnv = process.env): NotifierConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) throw new Error(`notifier configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const e = parsed.data;
  if (e.NOTIFY_WEBHOOK_URL && !e.NOTIFY_WEBHOOK_SECRET) throw new Error('NOTIFY_WEBHOOK_URL is set without NOTIFY_WEBHOOK_SECRET: receivers need it to check the signature');
  return {
    ...(e.NOTIFY_WEBHOOK_URL ? { webhookUrl: e.NOTIFY_WEBHOOK_URL } : {}),
    ...(e.NOTIFY_WEBHOOK_SECRET ? { webhookSecret: e.NOTIFY_WEBHOOK_SECRET } : {}),
    ...(e.PUBLIC_API_URL ? { publicApiUrl: e.PUBLIC_API_URL.replace(/\/$/, '') } : {}),
    webUiUrl: e.WEB_UI_URL,
    namespace: e.TEMPORAL_NAMESPACE,
    timeoutMs: e.NOTIFY_TIMEOUT_MS,
  };
}

/** `sha256=<hex>` over `<timestamp>.<body>`: receivers recompute it and reject stale timestamps (replays). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createNotifyActivities(cfg: NotifierConfig) {
  return {
    async notifyApproval(notice: ApprovalNotice): Promise<{ delivered: string[] }> {
      const links = {
        ...(cfg.publicApiUrl ? { inbox: `${cfg.publicApiUrl}/inbox`, decide: `${cfg.publicApiUrl}/approvals/${notice.approvalId}` } : {}),
        webUi: `${cfg.webUiUrl}/namespaces/${cfg.namespace}/workflows/${encodeURIComponent(notice.sessionId)}`,
      };
      log.info(`approval requested: ${notice.tool} in ${notice.sessionId} asks ${notice.approverGroup} until ${notice.deadline} (${notice.approvalId})`, { links });
      const delivered = ['log'];
      if (!cfg.webhookUrl) return { delivered };
      const body = JSON.stringify({ type: 'approval_requested', approval: notice, links });
      const timestamp = String(Math.floor(Date.now() / 1000));
      let res: Response;
      try {
        res = await fetch(cfg.webhookUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-agent-runtime-timestamp': timestamp,
            'x-agent-runtime-signature': signWebhook(cfg.webhookSecret!, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(cfg.timeoutMs),
        });
      } catch (err) {
        throw ApplicationFailure.retryable(`webhook ${cfg.webhookUrl} unreachable: ${(err as Error).message}`, 'WebhookUnreachable');
      }
      if (!res.ok) throw ApplicationFailure.retryable(`webhook ${cfg.webhookUrl} answered ${res.status}`, 'WebhookRefused');
      delivered.push('webhook');
      return { delivered };
    },
  };
}
