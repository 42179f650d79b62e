/**
 * HTTP interface for other services and the approvals inbox: start sessions, list and read them, list
 * what waits for a human, decide approvals, chat, cancel, top up, follow a session's events. Every body is
 * checked with zod (the same schemas the workflow's checks mirror); every route but /healthz, the OpenAPI
 * document and its docs page needs a bearer key or JWT (see http-auth.ts), and the identity it names is
 * what the workflow records as the approver.
 */
import swagger from '@fastify/swagger';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { webUiLink, type RuntimeConfig } from '../runtime/config';
import { ApprovalDecisionFields, BudgetTopUp, ChatMessageFields, editsOnlyWithApprove, sessionScopeOnlyWithApprove } from '../runtime/message-schemas';
import { InvalidSessionIdError, SessionId } from '../runtime/session-id';
import type { SessionStore } from '../runtime/store';
import { stateQuery } from '../workflows/messages';
import { AuthError, Authenticator, requireRole, type AuthOptions, type Identity, type Role } from './http-auth';
import { formatSse, isAfter, parseEventId, sessionEvents } from './http-events';
import { docsPage, type OpenApiDoc } from './http-docs';
import { inboxPage, loginPage } from './http-inbox';
import { listPendingApprovals, listSessions, withTimeout } from './http-visibility';
import { decideApproval, sendMessage, sessionHandle, startSession, topUpBudget, type PendingApprovalRef } from './sessions';

/** Bounds of what a caller may send (the workflow bounds its own inputs again). */
export const HTTP_LIMITS = Object.freeze({ bodyBytes: 256 * 1024, agentChars: 128, taskChars: 100_000, userIdChars: 256, approvalIdChars: 200, pageSize: 500 });

const AgentName = z.string().min(1).max(HTTP_LIMITS.agentChars);
const UserId = z.string().min(1).max(HTTP_LIMITS.userIdChars);
const FilterValue = z.string().min(1).max(256).regex(/^[A-Za-z0-9._@:\-/ ]+$/, 'letters, digits, space and . _ @ : - / only');
const StartBody = z
  .object({
    agent: AgentName,
    task: z.string().min(1).max(HTTP_LIMITS.taskChars).optional(),
    mode: z.enum(['task', 'chat']).optional(),
    /** Whom the session works for; defaults to the caller's identity. */
    userId: UserId.optional(),
    sessionId: SessionId.optional(),
  })
  .strict();
const SessionParams = z.object({ id: SessionId });
/** An approval in a URL: its seq (the part after the last '/' of the approval id), or the whole id percent-encoded. */
const ApprovalParams = z.object({ id: SessionId, approvalId: z.string().min(1).max(HTTP_LIMITS.approvalIdChars) });
const ApprovalPathParams = z.object({ id: SessionId, seq: z.string().regex(/^\d{1,9}$/, 'the seq of the approval (digits)') });
const DecisionBody = ApprovalDecisionFields.omit({ approvalId: true, approver: true, via: true })
  .strict()
  .refine(editsOnlyWithApprove, { message: 'editedArgs only go with approve', path: ['editedArgs'] })
  .refine(sessionScopeOnlyWithApprove, { message: "scope 'session' only goes with approve", path: ['scope'] });
const MessageBody = ChatMessageFields.extend({ agent: AgentName, userId: UserId.optional() }).strict();
const TopUpBody = z.object({ addSteps: z.number().int().positive().max(1_000_000).optional(), addTokens: z.number().int().positive().max(1e10).optional(), addCostUsd: z.number().positive().max(1e6).optional(), comment: z.string().max(2000).optional() }).strict();
const CancelBody = z.object({ reason: z.string().max(2000).optional() }).strict().optional();
const PageQuery = {
  pageSize: z.coerce.number().int().min(1).max(HTTP_LIMITS.pageSize).default(50),
  pageToken: z.string().max(4096).regex(/^[A-Za-z0-9_-]*$/, 'the nextPageToken of the previous page').optional(),
};
const SessionsQuery = z
  .object({
    agent: FilterValue.optional(),
    status: z.enum(['running', 'awaiting_approval', 'awaiting_input', 'budget_exhausted', 'completed', 'failed', 'cancelled']).optional(),
    userId: FilterValue.optional(),
    executionStatus: z.enum(['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut']).optional(),
    ...PageQuery,
  })
  .strict();
const ApprovalsQuery = z.object({ mine: z.enum(['true', 'false']).optional(), ...PageQuery }).strict();
const LoginBody = z.object({ key: z.string().min(1).max(8192) }).strict();

export interface HttpApiOptions {
  /**
   * Names of the agents the workers register. When given, a request naming another agent is refused with
   * 400 before anything starts; without it an unknown agent surfaces as a failed session.
   */
  agents?: readonly string[];
  /** Largest request body accepted (413 above). Default HTTP_LIMITS.bodyBytes. */
  bodyLimitBytes?: number;
  /** Who may call (required: the API has no anonymous mode). */
  auth: AuthOptions;
  /** The session store (events, approval details, health). */
  store: SessionStore;
  /** Bound on each per-session lookup (state query, store read) so one stuck session never holds a request. Default 2000. */
  perSessionTimeoutMs?: number;
  /** How often an event stream looks for new entries. Default 500. */
  eventPollMs?: number;
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

const COOKIE = 'agent_runtime_key';

/** One cookie's value from a Cookie header (the inbox sets a single cookie; no parser library needed). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
}

export async function buildHttpApi(client: Client, config: RuntimeConfig, opts: HttpApiOptions): Promise<FastifyInstance> {
  const auth = new Authenticator(opts.auth);
  const perSessionMs = opts.perSessionTimeoutMs ?? 2000;
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes ?? HTTP_LIMITS.bodyBytes }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      info: { title: 'agent-runtime HTTP API', version: '1.0.0', description: 'Durable agent sessions on Temporal: start, follow, approve.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A bearer key from HTTP_KEYS_FILE, or a JWT signed with HTTP_JWT_SECRET' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number; code?: string };
    if (e.validation) return reply.status(400).send({ error: 'invalid request', detail: e.message });
    if (e instanceof AuthError || e instanceof HttpError) return reply.status(e.statusCode).send({ error: e.message });
    if (e instanceof InvalidSessionIdError) return reply.status(400).send({ error: e.message });
    // Temporal answers an Update or signal to a closed workflow with NotFound "already completed".
    if (e instanceof WorkflowNotFoundError && /already completed/i.test(e.message)) return reply.status(409).send({ error: 'the session is closed (completed, failed or cancelled)' });
    if (e instanceof WorkflowNotFoundError) return reply.status(404).send({ error: 'no such session' });
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      return reply.status(409).send({ error: 'a session with this id exists or existed (ids are never reused): choose another sessionId' });
    }
    if (/^decision refused: /.test(e.message)) return reply.status(409).send({ error: e.message.replace(/^decision refused: /, '') });
    // A refused Update carries its validator's reason: the caller's request was refused, not the server broken.
    if (e instanceof WorkflowUpdateFailedError) return reply.status(409).send({ error: `refused: ${reasonOf(e)}` });
    if (e instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return reply.status(504).send({ error: 'the session did not answer in time; retry' });
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send({ error: `request body larger than ${opts.bodyLimitBytes ?? HTTP_LIMITS.bodyBytes} bytes` });
    if (/not found/i.test(e.message) && (e as { code?: unknown }).code === 5) return reply.status(404).send({ error: 'no such session' });
    const status = e.statusCode && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
    return reply.status(status).send({ error: e.message });
  });

  const known = opts.agents ? new Set(opts.agents) : undefined;
  const checkAgent = (agent: string): void => {
    if (known && !known.has(agent)) {
      throw new HttpError(400, `unknown agent '${agent}'; registered: ${[...known].join(', ') || 'none'}`);
    }
  };

  /** The caller's identity from the Authorization header or the inbox's login cookie. */
  const identify = async (req: FastifyRequest): Promise<Identity> => {
    const header = req.headers.authorization;
    const bearer = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
    if (header && !bearer) throw new AuthError(401, 'Authorization must be "Bearer <key or JWT>"');
    return auth.verify(bearer ?? cookieValue(req.headers.cookie, COOKIE));
  };
  const guard = (role: Role) => async (req: FastifyRequest) => {
    req.identity = await identify(req);
    requireRole(req.identity, role);
  };
  const doc = (tag: string, summary: string) => ({ tags: [tag], summary });

  // ---- public: health, docs -------------------------------------------------------------------------
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Temporal and session store reachability', security: [] } }, async (_req, reply) => {
    const probe = async (what: string, work: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> => {
      try {
        await withTimeout(what, perSessionMs, work());
        return { ok: true };
      } catch (err) {
        return { ok: false, error: (err as Error).message };
      }
    };
    const [temporal, store] = await Promise.all([
      probe(`Temporal at ${config.TEMPORAL_ADDRESS}`, () => client.workflowService.getSystemInfo({})),
      probe(`session store (${opts.store.kind})`, () => opts.store.stats('healthz-probe')),
    ]);
    const ok = temporal.ok && store.ok;
    return reply.status(ok ? 200 : 503).send({ ok, temporal, store });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(docsPage(app.swagger() as OpenApiDoc)));

  // ---- inbox: login with a key (kept in an HttpOnly cookie so EventSource can send it) ------------------
  app.post('/login', { schema: { body: LoginBody, tags: ['inbox'], summary: 'Log in to the inbox with a bearer key', security: [] } }, async (req, reply) => {
    const identity = await auth.verify(req.body.key);
    // HttpOnly: page scripts never see the key; SameSite=Strict: other sites cannot send it.
    reply.header('set-cookie', `${COOKIE}=${encodeURIComponent(req.body.key)}; Path=/; HttpOnly; SameSite=Strict`);
    return { id: identity.id, groups: identity.groups, roles: identity.roles };
  });
  app.post('/logout', { schema: { tags: ['inbox'], summary: 'Log out of the inbox', security: [] } }, async (_req, reply) => {
    reply.header('set-cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return { ok: true };
  });
  app.get('/inbox', { schema: { tags: ['inbox'], summary: 'The approvals inbox page (login page without credentials)', hide: true } }, async (req, reply) => {
    reply.type('text/html; charset=utf-8');
    try {
      const identity = await identify(req);
      return inboxPage(identity);
    } catch (err) {
      if (err instanceof AuthError) return loginPage();
      throw err;
    }
  });
  app.get('/me', { onRequest: guard('viewer'), schema: { ...doc('inbox', 'The caller\'s identity, groups and roles') } }, async (req) => {
    const { id, groups, roles, keyId } = req.identity!;
    return { id, groups, roles, keyId };
  });

  // ---- sessions ------------------------------------------------------------------------------------
  app.post('/sessions', { onRequest: guard('starter'), schema: { body: StartBody, ...doc('sessions', 'Start a session') } }, async (req, reply) => {
    checkAgent(req.body.agent);
    const s = await startSession(client, { ...req.body, userId: req.body.userId ?? req.identity!.id }, config);
    return reply.status(201).send({ sessionId: s.sessionId, webUi: s.webUi });
  });

  app.get('/sessions', { onRequest: guard('viewer'), schema: { querystring: SessionsQuery, ...doc('sessions', 'List sessions from visibility (filters are search attributes; paged)') } }, async (req) => {
    const { pageSize, pageToken, ...filters } = req.query;
    try {
      return await listSessions(client, config, filters, pageSize, pageToken);
    } catch (err) {
      if (pageToken && /token|invalid/i.test((err as Error).message)) throw new HttpError(400, `pageToken: ${(err as Error).message}`);
      throw err;
    }
  });

  app.get('/sessions/:id', { onRequest: guard('viewer'), schema: { params: SessionParams, ...doc('sessions', 'A session\'s state (its transcript paged)') } }, async (req) => {
    try {
      const state = await withTimeout(`session ${req.params.id}`, perSessionMs * 5, sessionHandle(client, req.params.id).query(stateQuery));
      return { ...state, webUi: webUiLink(config, req.params.id) };
    } catch (err) {
      if (/did not answer within/.test((err as Error).message)) throw new HttpError(504, `${(err as Error).message}: its worker may be down; GET /approvals still lists what it waits for`);
      throw err;
    }
  });

  app.post('/sessions/:id/messages', { onRequest: guard('starter'), schema: { params: SessionParams, body: MessageBody, ...doc('sessions', 'Send a chat message (creates the chat session if needed)') } }, async (req) => {
    checkAgent(req.body.agent);
    return sendMessage(client, req.params.id, req.body.text, { agent: req.body.agent, userId: req.body.userId ?? req.identity!.id }, config);
  });

  app.post('/sessions/:id/cancel', { onRequest: guard('starter'), schema: { params: SessionParams, body: CancelBody, ...doc('sessions', 'Cancel a session (running tools are stopped)') } }, async (req, reply) => {
    const handle = sessionHandle(client, req.params.id);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') throw new HttpError(409, `session ${req.params.id} is ${status.name.toLowerCase()}; only a running session can be cancelled`);
    await handle.cancel();
    return reply.status(202).send({ sessionId: req.params.id, cancelRequestedBy: req.identity!.id });
  });

  app.post('/sessions/:id/top-up', { onRequest: guard('approver'), schema: { params: SessionParams, body: TopUpBody, ...doc('sessions', 'Raise a session\'s budget') } }, async (req) => {
    const topUp = BudgetTopUp.parse({ ...req.body, approver: req.identity!.id });
    return { budget: await topUpBudget(client, req.params.id, topUp) };
  });

  // ---- events --------------------------------------------------------------------------------------
  // Event streams end when the API shuts down (otherwise close() would wait for every open stream).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.get('/sessions/:id/events', { onRequest: guard('viewer'), schema: { params: SessionParams, ...doc('events', 'Server-Sent Events: steps, tool calls, approvals, final answer; resumable with Last-Event-ID') } }, async (req, reply) => {
    const sessionId = req.params.id;
    const handle = sessionHandle(client, sessionId);
    await handle.describe(); // 404 before the stream starts
    const lastHeader = req.headers['last-event-id'];
    const after = parseEventId(typeof lastHeader === 'string' ? lastHeader : undefined);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 1000\n\n');
    const sent = new Set<string>();
    let open = true;
    req.raw.on('close', () => {
      open = false;
    });
    const pollMs = opts.eventPollMs ?? 500;
    let lastBeat = Date.now();
    while (open && !closing) {
      let closed = false;
      try {
        const desc = await withTimeout(`session ${sessionId}`, perSessionMs, handle.describe());
        closed = desc.status.name !== 'RUNNING';
        const stored = await withTimeout('session store', perSessionMs, opts.store.list(sessionId));
        // Decisions come from the workflow's records; a session that does not answer now is asked again next time.
        const approvals = await withTimeout(`session ${sessionId}`, perSessionMs, handle.query(stateQuery, { transcriptLimit: 1 }))
          .then((s) => s.approvals)
          .catch(() => []);
        for (const e of sessionEvents(sessionId, stored, approvals)) {
          if (sent.has(e.id) || !isAfter(e.id, after)) continue;
          sent.add(e.id);
          res.write(formatSse(e));
        }
        if (closed) {
          res.write(`event: end\ndata: ${JSON.stringify({ status: desc.status.name })}\n\n`);
          break;
        }
      } catch (err) {
        res.write(`event: problem\ndata: ${JSON.stringify({ error: (err as Error).message })}\n\n`);
      }
      if (Date.now() - lastBeat > 15_000) {
        res.write(': keep-alive\n\n');
        lastBeat = Date.now();
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    res.end();
  });

  // ---- approvals -----------------------------------------------------------------------------------
  app.get('/approvals', { onRequest: guard('viewer'), schema: { querystring: ApprovalsQuery, ...doc('approvals', 'Pending approvals across sessions (visibility + session store; paged)') } }, async (req) => {
    const { pageSize, pageToken, mine } = req.query;
    const identity = req.identity!;
    return listPendingApprovals(client, opts.store, config, {
      pageSize,
      ...(pageToken ? { pageToken } : {}),
      ...(mine === 'true' && !identity.roles.includes('admin') ? { groups: identity.groups } : {}),
      perSessionTimeoutMs: perSessionMs,
    });
  });

  const decide = async (req: FastifyRequest, sessionId: string, approvalId: string, body: z.infer<typeof DecisionBody>) => {
    const identity = req.identity!;
    // Group check on what the session publishes (server-side memo, no worker needed); the workflow checks again.
    const { memo, status } = await sessionHandle(client, sessionId).describe();
    if (status.name !== 'RUNNING') throw new HttpError(409, `session ${sessionId} is ${status.name.toLowerCase()}: its approvals are closed`);
    const pending = ((memo?.pendingApprovals as PendingApprovalRef[] | null | undefined) ?? []).find((p) => p.approvalId === approvalId);
    if (pending && !identity.roles.includes('admin') && !identity.groups.includes(pending.approverGroup)) {
      throw new AuthError(403, `${identity.id} is not in group '${pending.approverGroup}', which approval '${approvalId}' is asked of (member of: ${identity.groups.join(', ') || 'none'})`);
    }
    try {
      return await decideApproval(client, sessionId, { ...body, approvalId, approver: identity.id, via: 'http' });
    } catch (err) {
      // The session may close between the describe above and the Update (e.g. the decision just before this
      // one let it finish): Temporal then answers NotFound. A closed session is a 409, not a missing one.
      if (err instanceof WorkflowNotFoundError) {
        const now = await sessionHandle(client, sessionId).describe().catch(() => undefined);
        if (now && now.status.name !== 'RUNNING') throw new HttpError(409, `session ${sessionId} is ${now.status.name.toLowerCase()}: its approvals are closed`);
      }
      throw err;
    }
  };
  const decideDoc = () => ({ body: DecisionBody, ...doc('approvals', 'Approve or reject a pending tool call (edit-and-approve with editedArgs)') });
  // The approval id is `<sessionId>/<seq>`, so it is usable in a URL as it is: /approvals/<sessionId>/<seq>.
  app.post('/approvals/:id/:seq', { onRequest: guard('approver'), schema: { params: ApprovalPathParams, ...decideDoc() } }, async (req) =>
    decide(req, req.params.id, `${req.params.id}/${req.params.seq}`, req.body),
  );
  app.post('/sessions/:id/approvals/:approvalId', { onRequest: guard('approver'), schema: { params: ApprovalParams, ...decideDoc() } }, async (req) => {
    const { id, approvalId } = req.params;
    return decide(req, id, /^\d+$/.test(approvalId) ? `${id}/${approvalId}` : approvalId, req.body);
  });

  return app;
}

