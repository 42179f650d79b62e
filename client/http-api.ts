/**
 * HTTP interface for other services: start sessions, read their state, list what waits for a human,
 * decide approvals, chat. Every body is checked with the same zod schemas the workflow uses.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RuntimeConfig } from '../runtime/config';
import { ApprovalDecisionFields, ChatMessageFields, editsOnlyWithApprove, sessionScopeOnlyWithApprove } from '../runtime/message-schemas';
import { InvalidSessionIdError, SessionId } from '../runtime/session-id';
import type { ApprovalRecord } from '../workflows/types';
import { decideApproval, forkSession, resumeSession, sendMessage, sessionState, startSession } from './sessions';
import { ForkOptions } from './fork';

/** Bounds of what a caller may send (the workflow bounds its own inputs again). */
export const HTTP_LIMITS = Object.freeze({ bodyBytes: 256 * 1024, agentChars: 128, taskChars: 100_000, userIdChars: 256, approvalIdChars: 200 });

const AgentName = z.string().min(1).max(HTTP_LIMITS.agentChars);
const UserId = z.string().min(1).max(HTTP_LIMITS.userIdChars);
const StartBody = z
  .object({
    agent: AgentName,
    task: z.string().min(1).max(HTTP_LIMITS.taskChars).optional(),
    mode: z.enum(['task', 'chat']).optional(),
    userId: UserId.optional(),
    sessionId: SessionId.optional(),
  })
  .strict();
const SessionParams = z.object({ id: SessionId });
const ApprovalParams = z.object({ id: SessionId, approvalId: z.string().min(1).max(HTTP_LIMITS.approvalIdChars) });
const DecisionBody = ApprovalDecisionFields.omit({ approvalId: true })
  .refine(editsOnlyWithApprove, { message: 'editedArgs only go with approve', path: ['editedArgs'] })
  .refine(sessionScopeOnlyWithApprove, { message: "scope 'session' only goes with approve", path: ['scope'] });
const MessageBody = ChatMessageFields.extend({ agent: AgentName, userId: UserId.optional() }).strict();

export interface HttpApiOptions {
  /**
   * Names of the agents the workers register. When given, a request naming another agent is refused with
   * 400 before anything starts; without it an unknown agent surfaces as a failed session.
   */
  agents?: readonly string[];
  /** Largest request body accepted (413 above). Default HTTP_LIMITS.bodyBytes. */
  bodyLimitBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The reason inside a Temporal client error (an Update validator's message, a failure's message). */
function reasonOf(err: Error): string {
  return err.cause instanceof Error && err.cause.message ? err.cause.message : err.message;
}

export function buildHttpApi(client: Client, config: RuntimeConfig, opts: HttpApiOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes ?? HTTP_LIMITS.bodyBytes }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number; code?: string };
    if (e.validation) return reply.status(400).send({ error: 'invalid request', detail: e.message });
    if (e instanceof HttpError) return reply.status(e.statusCode).send({ error: e.message });
    if (e instanceof InvalidSessionIdError) return reply.status(400).send({ error: e.message });
    if (e instanceof WorkflowNotFoundError) return reply.status(404).send({ error: 'no such session' });
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      return reply.status(409).send({ error: 'a session with this id exists or existed (ids are never reused): choose another sessionId' });
    }
    if (/^decision refused: /.test(e.message)) return reply.status(409).send({ error: e.message.replace(/^decision refused: /, '') });
    // A refused Update carries its validator's reason: the caller's request was refused, not the server broken.
    if (e instanceof WorkflowUpdateFailedError) return reply.status(409).send({ error: `refused: ${reasonOf(e)}` });
    if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return reply.status(504).send({ error: 'the session did not answer in time; retry' });
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send({ error: `request body larger than ${opts.bodyLimitBytes ?? HTTP_LIMITS.bodyBytes} bytes` });
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
    return reply.status(status).send({ error: e.message });
  });
  const known = opts.agents ? new Set(opts.agents) : undefined;
  const checkAgent = (agent: string): void => {
    if (known && !known.has(agent)) {
      throw new HttpError(400, `unknown agent '${agent}'; registered: ${[...known].join(', ') || 'none'}`);
    }
  };

  app.get('/healthz', async () => ({ ok: true }));

  app.post('/sessions', { schema: { body: StartBody } }, async (req, reply) => {
    checkAgent(req.body.agent);
    const s = await startSession(client, req.body, config);
    return reply.status(201).send({ sessionId: s.sessionId, webUi: s.webUi });
  });

  app.get('/sessions/:id', { schema: { params: SessionParams } }, async (req) => sessionState(client, req.params.id));

  /** Forks and resume (README, "Forks and resume"): a new session; the original is not changed. */
  app.post('/sessions/:id/fork', { schema: { params: SessionParams, body: ForkOptions } }, async (req, reply) => {
    const f = await forkSession(client, req.params.id, req.body, config);
    return reply.status(201).send({ sessionId: f.sessionId, parentSessionId: req.params.id, atSeq: req.body.atSeq, webUi: f.webUi });
  });
  app.post('/sessions/:id/resume', { schema: { params: SessionParams } }, async (req, reply) => {
    const f = await resumeSession(client, req.params.id, config).catch((err: Error) => {
      throw /can be resumed/.test(err.message) ? new HttpError(409, err.message) : err;
    });
    return reply.status(201).send({ sessionId: f.sessionId, parentSessionId: req.params.id, webUi: f.webUi });
  });

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

  app.post('/sessions/:id/messages', { schema: { params: SessionParams, body: MessageBody } }, async (req) => {
    checkAgent(req.body.agent);
    return sendMessage(client, req.params.id, req.body.text, { agent: req.body.agent, ...(req.body.userId ? { userId: req.body.userId } : {}) }, config);
  });

  return app;
}
