/**
 * HTTP interface for other services: start sessions, read their state, list what waits for a human,
 * decide approvals, chat. Every body is checked with the same zod schemas the workflow uses.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RuntimeConfig } from '../runtime/config';
import { InvalidSessionIdError, SessionId } from '../runtime/session-id';
import { ApprovalDecisionFields, ChatMessage, editsOnlyWithApprove } from '../workflows/messages';
import type { ApprovalRecord } from '../workflows/types';
import { decideApproval, sendMessage, sessionState, startSession } from './sessions';

const StartBody = z
  .object({
    agent: z.string().min(1),
    task: z.string().min(1).optional(),
    mode: z.enum(['task', 'chat']).optional(),
    userId: z.string().min(1).optional(),
    sessionId: SessionId.optional(),
  })
  .strict();
const SessionParams = z.object({ id: SessionId });
const ApprovalParams = z.object({ id: SessionId, approvalId: z.string().min(1).max(200) });
const DecisionBody = ApprovalDecisionFields.omit({ approvalId: true }).refine(editsOnlyWithApprove, {
  message: 'editedArgs only go with approve',
  path: ['editedArgs'],
});
const MessageBody = ChatMessage.extend({ agent: z.string().min(1), userId: z.string().min(1).optional() }).strict();

export function buildHttpApi(client: Client, config: RuntimeConfig): FastifyInstance {
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number };
    if (e.validation) return reply.status(400).send({ error: 'invalid request', detail: e.message });
    if (e instanceof InvalidSessionIdError) return reply.status(400).send({ error: e.message });
    if (e instanceof WorkflowNotFoundError) return reply.status(404).send({ error: 'no such session' });
    if (/^decision refused: /.test(e.message)) return reply.status(409).send({ error: e.message.replace(/^decision refused: /, '') });
    return reply.status(e.statusCode ?? 500).send({ error: e.message });
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.post('/sessions', { schema: { body: StartBody } }, async (req, reply) => {
    const s = await startSession(client, req.body, config);
    return reply.status(201).send({ sessionId: s.sessionId, webUi: s.webUi });
  });

  app.get('/sessions/:id', { schema: { params: SessionParams } }, async (req) => sessionState(client, req.params.id));

  /** What waits on a human, across sessions (search attributes: SessionStatus="awaiting_approval"). */
  app.get('/approvals', async () => {
    const pending: Array<ApprovalRecord & { sessionId: string }> = [];
    for await (const wf of client.workflow.list({ query: 'SessionStatus="awaiting_approval" AND ExecutionStatus="Running"' })) {
      const st = await sessionState(client, wf.workflowId);
      pending.push(...st.pendingApprovals.map((a) => ({ ...a, sessionId: wf.workflowId })));
    }
    return { pending };
  });

  app.post('/sessions/:id/approvals/:approvalId', { schema: { params: ApprovalParams, body: DecisionBody } }, async (req) =>
    decideApproval(client, req.params.id, { ...req.body, approvalId: req.params.approvalId }),
  );

  app.post('/sessions/:id/messages', { schema: { params: SessionParams, body: MessageBody } }, async (req) =>
    sendMessage(client, req.params.id, req.body.text, { agent: req.body.agent, ...(req.body.userId ? { userId: req.body.userId } : {}) }, config),
  );

  return app;
}
