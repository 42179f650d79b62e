/**
 * agentctl: start, inspect and steer agent sessions, decide approvals (signed when a key is configured),
 * manage memory and start a dev server. Every command takes --json for scripts; exit codes: errors.ts.
 * Connection: --address / TEMPORAL_ADDRESS (default 127.0.0.1:7233), --namespace, --task-queue.
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import type { Client } from '@temporalio/client';
import { loadConfig, webUiLink, type RuntimeConfig } from '../../runtime/config';
import { loadApproverDirectory, identityOf } from '../../runtime/approvers';
import { generateSigningKey, loadSigningKey, signDecision, type SigningKey } from '../../runtime/signing';
import { ensureTemporal } from '../../runtime/temporal-server';
import {
  connectClient,
  decideApprovalAs,
  endSession,
  forkSession,
  pendingApprovals,
  resumeSession,
  sendEvent,
  sendMessage,
  sessionHandle,
  sessionState,
  startSession,
  topUpBudget,
  type PendingApprovalRef,
} from '../sessions';
import { forgetNamespace, forgetSessionMemories, openMemory, searchMemories } from '../memory';
import { CliError, classify, EXIT } from './errors';
import { watchSession } from './watch';
import type { SessionState } from '../../workflows/types';

interface GlobalOpts {
  address?: string;
  namespace?: string;
  taskQueue?: string;
  json?: boolean;
}

const program = new Command('agentctl')
  .description('Operate agent-runtime sessions on Temporal')
  .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or 127.0.0.1:7233)')
  .option('--namespace <ns>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE or default)')
  .option('--task-queue <name>', 'task queue of the workers (default: $TASK_QUEUE or agent-runtime)')
  .option('--json', 'machine-readable output (one JSON document on stdout)')
  .showHelpAfterError()
  .exitOverride();

function settings(): { config: RuntimeConfig; json: boolean } {
  const g = program.opts<GlobalOpts>();
  const env = { ...process.env };
  if (g.address) env.TEMPORAL_ADDRESS = g.address;
  if (g.namespace) env.TEMPORAL_NAMESPACE = g.namespace;
  if (g.taskQueue) env.TASK_QUEUE = g.taskQueue;
  return { config: loadConfig(env), json: g.json ?? false };
}

/** Runs a command with a connected client; maps failures to a message and exit code. */
function withClient(sessionId: string | undefined, fn: (client: Client, s: ReturnType<typeof settings>) => Promise<number | void>): Promise<void> {
  const s = settings();
  return (async () => {
    let client: Client | undefined;
    try {
      client = await connectClient(s.config);
      const code = await fn(client, s);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      throw classify(err, { address: s.config.TEMPORAL_ADDRESS, ...(sessionId ? { sessionId } : {}) });
    } finally {
      await client?.connection.close().catch(() => undefined);
    }
  })();
}

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${name} must be a positive integer, got '${v}'`, EXIT.usage);
  return n;
};
const num = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${name} must be a positive number, got '${v}'`, EXIT.usage);
  return n;
};

// ---- sessions ---------------------------------------------------------------------------------------
program
  .command('start')
  .description('start a session of an agent on a task (task mode)')
  .requiredOption('-a, --agent <name>', 'registered agent name')
  .requiredOption('-t, --task <text>', 'the task')
  .option('-u, --user <id>', 'user the session belongs to')
  .option('--id <sessionId>', 'session id (random when omitted)')
  .option('-w, --watch', 'then watch it until it completes or pauses')
  .action((o: { agent: string; task: string; user?: string; id?: string; watch?: boolean }) =>
    withClient(o.id, async (client, s) => {
      const started = await startSession(client, { agent: o.agent, task: o.task, ...(o.user ? { userId: o.user } : {}), ...(o.id ? { sessionId: o.id } : {}) }, s.config);
      print(s.json && !o.watch, { sessionId: started.sessionId, webUi: started.webUi }, () => `session: ${started.sessionId}\nweb ui:  ${started.webUi}`);
      if (o.watch) return watchSession(client, started.sessionId, { json: s.json });
    }),
  );

program
  .command('send <sessionId> <text>')
  .description('send a chat message (creates the chat session when --agent is given and it does not exist)')
  .option('-a, --agent <name>', 'agent of a new chat session')
  .option('-u, --user <id>', 'user of a new chat session')
  .action((sessionId: string, text: string, o: { agent?: string; user?: string }) =>
    withClient(sessionId, async (client, s) => {
      let agent = o.agent;
      if (!agent) {
        const d = await sessionHandle(client, sessionId).describe();
        agent = (d.searchAttributes?.AgentName as string[] | undefined)?.[0];
        if (!agent) agent = (await sessionState(client, sessionId)).agent;
      }
      const reply = await sendMessage(client, sessionId, text, { agent, ...(o.user ? { userId: o.user } : {}) }, s.config);
      print(s.json, reply, () => (reply.reply !== undefined ? reply.reply : `${reply.status}: ${reply.pendingApprovals.map((a) => `${a.tool} waits for approval ${a.approvalId}`).join('; ')}`));
    }),
  );

program
  .command('list')
  .description('list sessions (from Temporal visibility; no session is queried)')
  .option('--status <status>', 'running | awaiting_approval | awaiting_input | budget_exhausted | completed | failed | cancelled')
  .option('-a, --agent <name>', 'only this agent')
  .option('-u, --user <id>', 'only this user')
  .option('-n, --limit <n>', 'at most this many', int('--limit'), 50)
  .action((o: { status?: string; agent?: string; user?: string; limit: number }) =>
    withClient(undefined, async (client, s) => {
      const quote = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
      const query = [
        `WorkflowType="agentSession"`,
        ...(o.status ? [`SessionStatus=${quote(o.status)}`] : []),
        ...(o.agent ? [`AgentName=${quote(o.agent)}`] : []),
        ...(o.user ? [`UserId=${quote(o.user)}`] : []),
      ].join(' AND ');
      const rows: Array<{ sessionId: string; status: string; agent?: string; user?: string; pendingApprovals: number; startTime: string }> = [];
      for await (const wf of client.workflow.list({ query })) {
        const sa = wf.searchAttributes as Record<string, unknown[] | undefined>;
        rows.push({
          sessionId: wf.workflowId,
          status: (sa.SessionStatus?.[0] as string | undefined) ?? wf.status.name.toLowerCase(),
          ...(sa.AgentName?.[0] ? { agent: sa.AgentName[0] as string } : {}),
          ...(sa.UserId?.[0] ? { user: sa.UserId[0] as string } : {}),
          pendingApprovals: (sa.PendingApprovals?.[0] as number | undefined) ?? 0,
          startTime: wf.startTime.toISOString(),
        });
        if (rows.length >= o.limit) break;
      }
      print(s.json, rows, () =>
        rows.length === 0
          ? `no sessions at ${s.config.TEMPORAL_ADDRESS}${o.status || o.agent || o.user ? ' match' : ''}`
          : rows.map((r) => `${r.sessionId}  ${r.status.padEnd(17)} ${(r.agent ?? '-').padEnd(22)} pending=${r.pendingApprovals}  ${r.startTime}`).join('\n'),
      );
    }),
  );

function describeState(st: SessionState, webUi: string): string {
  const lines = [
    `session:  ${st.sessionId}`,
    `agent:    ${st.agent}${st.userId ? ` (user ${st.userId})` : ''}, ${st.mode} mode`,
    `status:   ${st.status}${st.endReason ? ` (${st.endReason})` : ''}${st.error ? `: ${st.error}` : ''}`,
    `usage:    ${st.steps} steps, ${st.usage.totalTokens} tokens, $${st.costUsd.toFixed(4)}`,
    `web ui:   ${webUi}`,
  ];
  for (const a of st.pendingApprovals) {
    lines.push(`pending:  ${a.approvalId}  ${a.tool}(${JSON.stringify(a.args).slice(0, 100)})  group ${a.approverGroup} until ${a.deadline}`);
    lines.push(`          decide: agentctl approve ${st.sessionId} --approval-id ${a.approvalId}   (or: agentctl reject ... --comment "why")`);
  }
  for (const a of st.approvals.filter((x) => x.status !== 'pending')) {
    const by = a.decidedBy ? ` by ${a.decidedBy.identity}${a.decidedBy.keyId ? ` (key ${a.decidedBy.keyId})` : ' (unsigned)'} via ${a.decidedBy.via}` : a.approver ? ` by ${a.approver}` : '';
    lines.push(`decided:  ${a.approvalId}  ${a.tool}: ${a.status}${by}`);
  }
  if (st.finalAnswer !== undefined) lines.push(`answer:   ${st.finalAnswer}`);
  return lines.join('\n');
}

program
  .command('show <sessionId>')
  .description("a session's status, usage, approvals and answer")
  .action((sessionId: string) =>
    withClient(sessionId, async (client, s) => {
      const st = await sessionState(client, sessionId);
      print(s.json, st, () => describeState(st, webUiLink(s.config, sessionId)));
    }),
  );

program
  .command('watch <sessionId>')
  .description(`follow a session until it completes (exit ${EXIT.ok}), pauses (exit ${EXIT.paused}) or fails (exit ${EXIT.sessionFailed})`)
  .action((sessionId: string) => withClient(sessionId, (client, s) => watchSession(client, sessionId, { json: s.json })));

program
  .command('cancel <sessionId>')
  .description('cancel a session (its tools are stopped; the transcript is kept)')
  .action((sessionId: string) =>
    withClient(sessionId, async (client, s) => {
      await sessionHandle(client, sessionId).cancel();
      print(s.json, { sessionId, cancelled: true }, () => `cancel requested for ${sessionId}`);
    }),
  );

program
  .command('end <sessionId>')
  .description('end a chat session (or one paused on its budget) after the current step')
  .option('--reason <text>', 'why')
  .action((sessionId: string, o: { reason?: string }) =>
    withClient(sessionId, async (client, s) => {
      await endSession(client, sessionId, { by: approverName(), ...(o.reason ? { reason: o.reason } : {}) });
      print(s.json, { sessionId, ended: true }, () => `end requested for ${sessionId}`);
    }),
  );

program
  .command('event <sessionId> <name>')
  .description("deliver an external event (e.g. payment_received) to a session's wait_for_event")
  .option('--payload <json>', 'the event payload, JSON (at most 16 KiB)')
  .option('--id <id>', 'the sender\'s event id (a re-send with the same id is taken once)')
  .action((sessionId: string, name: string, o: { payload?: string; id?: string }) =>
    withClient(sessionId, async (client, s) => {
      let payload: unknown;
      if (o.payload !== undefined) {
        try {
          payload = JSON.parse(o.payload);
        } catch (err) {
          throw new CliError(`--payload is not JSON: ${(err as Error).message}`, EXIT.usage);
        }
      }
      await sendEvent(client, sessionId, name, payload, o.id ? { id: o.id } : {}).catch((err: unknown) => {
        throw new CliError(err instanceof Error ? err.message : String(err), /^sendEvent:/.test(String((err as Error)?.message)) ? EXIT.usage : EXIT.refused);
      });
      print(s.json, { sessionId, event: name, sent: true }, () => `event '${name}' sent to ${sessionId} (refused events show in \`agentctl show\`)`);
    }),
  );

program
  .command('top-up <sessionId>')
  .description('raise the budget of a session')
  .option('--steps <n>', 'add model steps', int('--steps'))
  .option('--tokens <n>', 'add tokens', int('--tokens'))
  .option('--cost <usd>', 'add USD', num('--cost'))
  .option('--comment <text>', 'why')
  .option('--as <identity>', 'who tops up (default: $AGENTCTL_APPROVER or your login name)')
  .action((sessionId: string, o: { steps?: number; tokens?: number; cost?: number; comment?: string; as?: string }) =>
    withClient(sessionId, async (client, s) => {
      if (o.steps === undefined && o.tokens === undefined && o.cost === undefined) throw new CliError('top-up needs --steps, --tokens or --cost', EXIT.usage);
      const budget = await topUpBudget(client, sessionId, {
        approver: o.as ?? approverName(),
        ...(o.steps ? { addSteps: o.steps } : {}),
        ...(o.tokens ? { addTokens: o.tokens } : {}),
        ...(o.cost ? { addCostUsd: o.cost } : {}),
        ...(o.comment ? { comment: o.comment } : {}),
      }).catch((err: unknown) => {
        throw new CliError(`session '${sessionId}' refused the top-up: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`, EXIT.refused);
      });
      print(s.json, budget, () => `budget of ${sessionId}: ${JSON.stringify(budget)}`);
    }),
  );

program
  .command('fork <sessionId>')
  .description("a new session from this one's state after entry --at (its transcript shares the prefix; the original is unchanged)")
  .requiredOption('--at <seq>', "the parent's last shared transcript entry (see `show`)", int('--at'))
  .option('--task <text>', 'a new task (or chat message) for the fork')
  .option('--id <forkId>', 'session id of the fork (default <sessionId>.f-<random>)')
  .action((sessionId: string, o: { at: number; task?: string; id?: string }) =>
    withClient(sessionId, async (client, s) => {
      const f = await forkSession(client, sessionId, { atSeq: o.at, ...(o.task ? { task: o.task } : {}), ...(o.id ? { forkId: o.id } : {}) }, s.config);
      print(s.json, { sessionId: f.sessionId, parentSessionId: sessionId, atSeq: o.at, webUi: f.webUi }, () => `fork:   ${f.sessionId} (of ${sessionId} at seq ${o.at})\nweb ui: ${f.webUi}`);
    }),
  );

program
  .command('resume <sessionId>')
  .description('continue a failed session from its last stored step (as <sessionId>.r<N>), after fixing the cause')
  .action((sessionId: string) =>
    withClient(sessionId, async (client, s) => {
      const f = await resumeSession(client, sessionId, s.config).catch((err: unknown) => {
        if (err instanceof Error && err.message.includes('can be resumed')) throw new CliError(err.message, EXIT.refused);
        throw err;
      });
      print(s.json, { sessionId: f.sessionId, parentSessionId: sessionId, webUi: f.webUi }, () => `resumed as ${f.sessionId}\nweb ui: ${f.webUi}`);
    }),
  );

// ---- approvals ----------------------------------------------------------------------------------------
function approverName(): string {
  return process.env.AGENTCTL_APPROVER || os.userInfo().username;
}

program
  .command('approvals [sessionId]')
  .description('pending approvals: of one session, or of every session waiting for one (from visibility and memos)')
  .action((sessionId: string | undefined) =>
    withClient(sessionId, async (client, s) => {
      const rows: Array<PendingApprovalRef & { sessionId: string; askedBy?: string }> = [];
      // A sub-agent's approval is decided through the session asked about (it forwards the decision).
      if (sessionId) rows.push(...(await pendingApprovals(client, sessionId)).map((a) => ({ ...a, sessionId, ...(a.sessionId && a.sessionId !== sessionId ? { askedBy: a.sessionId } : {}) })));
      else {
        const seen = new Set<string>();
        for await (const wf of client.workflow.list({ query: 'WorkflowType="agentSession" AND ExecutionStatus="Running" AND SessionStatus="awaiting_approval"' })) {
          const memo = (wf.memo?.pendingApprovals as PendingApprovalRef[] | null | undefined) ?? [];
          // Sessions that delegated list their sub-agents' approvals too: one row each, for the session that asked.
          for (const a of memo) {
            if (seen.has(a.approvalId)) continue;
            seen.add(a.approvalId);
            rows.push({ ...a, sessionId: a.sessionId ?? wf.workflowId });
          }
        }
      }
      print(s.json, rows, () =>
        rows.length === 0
          ? `no pending approvals${sessionId ? ` in ${sessionId}` : ''} at ${s.config.TEMPORAL_ADDRESS}`
          : rows.map((a) => `${a.approvalId}  ${a.tool}  group ${a.approverGroup}  until ${a.deadline}${a.askedBy ? `  (sub-agent ${a.askedBy})` : ''}\n  agentctl approve ${a.sessionId} --approval-id ${a.approvalId}`).join('\n'),
      );
    }),
  );

interface DecideOpts {
  approvalId?: string;
  comment?: string;
  edit?: string;
  as?: string;
  key?: string;
  keyId?: string;
  directory?: string;
  signal?: boolean;
  ttl?: number;
}

/** The signing key from --key/--key-id or AGENTCTL_KEY/AGENTCTL_KEY_ID; undefined when none is configured. */
function signingKey(o: { key?: string; keyId?: string }, who: string): SigningKey | undefined {
  const file = o.key ?? process.env.AGENTCTL_KEY;
  if (!file) return undefined;
  const keyId = o.keyId ?? process.env.AGENTCTL_KEY_ID ?? `${who}-key`;
  try {
    return loadSigningKey(file, keyId);
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage);
  }
}

function decideCommand(name: 'approve' | 'reject'): void {
  program
    .command(`${name} <sessionId>`)
    .description(`${name} a pending approval (signed when a key is configured)`)
    .option('--approval-id <id>', 'which approval (default: the only pending one)')
    .option('--comment <text>', 'reason or note for the model')
    .option('--as <identity>', 'approver identity (default: $AGENTCTL_APPROVER or your login name)')
    .option('--key <pem>', 'Ed25519 private key to sign with (default: $AGENTCTL_KEY)')
    .option('--key-id <id>', 'its key id in the approver directory (default: $AGENTCTL_KEY_ID or <identity>-key)')
    .option('--directory <file>', 'approver directory to check membership against before sending (default: $APPROVERS_FILE)')
    .option('--ttl <seconds>', 'signature lifetime', int('--ttl'), 300)
    .option('--signal', 'send as the approval signal (fire and forget) instead of the decideApproval Update')
    .addOption(name === 'approve' ? new Option('--edit <json>', 'approve with these arguments instead') : new Option('--edit <json>').hideHelp())
    .action((sessionId: string, o: DecideOpts) =>
      withClient(sessionId, async (client, s) => {
        const who = o.as ?? approverName();
        const directoryFile = o.directory ?? process.env.APPROVERS_FILE;
        const identity = directoryFile ? identityOf(loadApproverDirectory(directoryFile), who) : { id: who, groups: [] };
        if (!identity) throw new CliError(`'${who}' is not in the approver directory ${path.resolve(directoryFile!)}`, EXIT.refused);
        let editedArgs: Record<string, unknown> | undefined;
        if (o.edit !== undefined) {
          try {
            editedArgs = JSON.parse(o.edit) as Record<string, unknown>;
          } catch (err) {
            throw new CliError(`--edit is not JSON: ${(err as Error).message}`, EXIT.usage);
          }
        }
        const pending = await pendingApprovals(client, sessionId);
        const target = o.approvalId ? pending.find((a) => a.approvalId === o.approvalId) : pending.length === 1 ? pending[0] : undefined;
        if (!target) {
          throw new CliError(
            o.approvalId
              ? `session '${sessionId}' has no pending approval '${o.approvalId}'${pending.length ? `; pending: ${pending.map((a) => a.approvalId).join(', ')}` : ''}`
              : `session '${sessionId}' has ${pending.length} pending approvals${pending.length ? `: ${pending.map((a) => a.approvalId).join(', ')}; pass --approval-id` : ''}`,
            EXIT.notFound,
          );
        }
        const key = signingKey(o, who);
        const record = await decideApprovalAs(
          client,
          sessionId,
          { approvalId: target.approvalId, decision: name, argsHash: target.argsHash, ...(o.comment ? { comment: o.comment } : {}), ...(editedArgs ? { editedArgs } : {}) },
          { identity, via: 'cli', ...(key ? { key } : {}), ttlMs: (o.ttl ?? 300) * 1000, channel: o.signal ? 'signal' : 'update' },
        );
        const out = record ?? { approvalId: target.approvalId, sent: name, signal: true };
        print(s.json, out, () =>
          record
            ? `${record.status}: ${record.tool} (${record.approvalId}) by ${record.decidedBy?.identity ?? record.approver}${record.decidedBy?.keyId ? `, signed with ${record.decidedBy.keyId}` : ''}`
            : `sent ${name} for ${target.approvalId} to ${sessionId} (signal: check with agentctl show ${sessionId})`,
        );
      }),
    );
}
decideCommand('approve');
decideCommand('reject');

program
  .command('sign')
  .description('print a signed decision (JSON) for the approval signal, the decideApproval Update or the HTTP API')
  .requiredOption('--approval-id <id>', 'the approval')
  .requiredOption('--args-hash <hex>', 'the argsHash shown with the pending approval')
  .option('--decision <d>', 'approve | reject', 'approve')
  .option('--as <identity>', 'approver identity (default: $AGENTCTL_APPROVER or your login name)')
  .option('--key <pem>', 'Ed25519 private key (default: $AGENTCTL_KEY)')
  .option('--key-id <id>', 'its key id (default: $AGENTCTL_KEY_ID or <identity>-key)')
  .option('--comment <text>', 'note for the model (not signed)')
  .option('--ttl <seconds>', 'signature lifetime', int('--ttl'), 300)
  .action((o: { approvalId: string; argsHash: string; decision: string; as?: string; key?: string; keyId?: string; comment?: string; ttl: number }) => {
    if (o.decision !== 'approve' && o.decision !== 'reject') throw new CliError(`--decision must be approve or reject, got '${o.decision}'`, EXIT.usage);
    const who = o.as ?? approverName();
    const key = signingKey(o, who);
    if (!key) throw new CliError('sign needs a key: --key <pem> or AGENTCTL_KEY', EXIT.usage);
    const signed = signDecision(
      { approvalId: o.approvalId, argsHash: o.argsHash, decision: o.decision, approver: who, ...(o.comment ? { comment: o.comment } : {}) },
      key,
      { ttlMs: o.ttl * 1000 },
    );
    process.stdout.write(`${JSON.stringify(signed)}\n`);
  });

program
  .command('keygen')
  .description('make an Ed25519 signing key: writes the private key (PEM) and prints the public key for the approver directory')
  .requiredOption('--out <file>', 'where to write the private key (mode 600)')
  .action((o: { out: string }) => {
    const { privateKeyPem, publicKey } = generateSigningKey();
    writeFileSync(o.out, privateKeyPem, { mode: 0o600, flag: 'wx' });
    print(program.opts<GlobalOpts>().json ?? false, { privateKey: path.resolve(o.out), publicKey }, () => `private key: ${path.resolve(o.out)}\npublic key:  ${publicKey}`);
  });

// ---- memory -----------------------------------------------------------------------------------------------
const memory = program.command('memory').description('long-term memory (MEMORY_URL: a SQLite file or postgres:// URL)');
memory
  .command('search <query>')
  .option('--namespace <ns>', 'e.g. user/alice')
  .option('-k <n>', 'results', int('-k'), 10)
  .action(async (query: string, o: { namespace?: string; k: number }) => {
    const s = settings();
    const store = await openMemory(s.config.MEMORY_URL);
    try {
      const hits = await searchMemories(store, { query, k: o.k, ...(o.namespace ? { namespace: o.namespace } : {}) });
      print(s.json, hits, () => (hits.length ? hits.map((x) => `${x.record.id}  ${x.record.namespace}  ${x.record.text.slice(0, 100)}`).join('\n') : `no memories match in ${s.config.MEMORY_URL}`));
    } finally {
      await store.close();
    }
  });
memory
  .command('forget')
  .description('forget a namespace or everything a session wrote (and what was derived from it)')
  .option('--namespace <ns>', 'e.g. user/alice')
  .option('--session <id>', 'a session id')
  .option('--reason <text>', 'kept in the audit trail')
  .action(async (o: { namespace?: string; session?: string; reason?: string }) => {
    if (!o.namespace === !o.session) throw new CliError('memory forget needs exactly one of --namespace or --session', EXIT.usage);
    const s = settings();
    const store = await openMemory(s.config.MEMORY_URL);
    try {
      const forgotten = o.namespace ? await forgetNamespace(store, o.namespace, o.reason) : await forgetSessionMemories(store, o.session!, o.reason);
      print(s.json, { forgotten }, () => `forgot ${forgotten.length} memories`);
    } finally {
      await store.close();
    }
  });

// ---- dev server ---------------------------------------------------------------------------------------------
program
  .command('server')
  .description('start the embedded Temporal dev server (detached; state in .data/) or reuse the one on --port')
  .option('--port <n>', 'gRPC port', int('--port'), 7233)
  .option('--ui-port <n>', 'Web UI port (default: port + 1000)', int('--ui-port'))
  .option('--db <file>', 'SQLite file of the server state')
  .action(async (o: { port: number; uiPort?: number; db?: string }) => {
    const json = program.opts<GlobalOpts>().json ?? false;
    // An explicit --port wins over TEMPORAL_ADDRESS (which would otherwise be used as is).
    delete process.env.TEMPORAL_ADDRESS;
    const server = await ensureTemporal({ port: o.port, ...(o.uiPort ? { uiPort: o.uiPort } : {}), ...(o.db ? { dbFile: path.resolve(o.db) } : {}) });
    print(json, { address: server.address, webUi: server.uiUrl, pid: server.pid, started: server.started }, () =>
      [
        `Temporal: ${server.address}${server.started ? ` (dev server started, pid ${server.pid})` : ' (already running)'}`,
        ...(server.uiUrl ? [`Web UI:   ${server.uiUrl}`] : []),
        `Use it:   export TEMPORAL_ADDRESS=${server.address}`,
        ...(server.started ? [`Stop it:  kill ${server.pid}`] : []),
      ].join('\n'),
    );
  });

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are not errors; every other commander error is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
      return;
    }
    const e = err instanceof CliError ? err : classify(err, { address: settings().config.TEMPORAL_ADDRESS });
    if (program.opts<GlobalOpts>().json) process.stdout.write(`${JSON.stringify({ error: e.message, exitCode: e.code })}\n`);
    process.stderr.write(`agentctl: ${e.message}\n`);
    process.exitCode = e.code;
  }
}

void main();
