/**
 * The first activity of a fork: links the fork's transcript to its parent's prefix in the session store
 * (no copy, runtime/store/links.ts), works out the parent's state at the fork point from the stored
 * entries, restores the parent's workspace as it was at the fork point, and reads the parent's grants and
 * top-ups in force then. Idempotent: a retried attempt finds the same link and restores again.
 *
 * What is restored exactly (README, "Forks"):
 * - from the store: the transcript (every stored entry up to the fork point), steps (model turns), token
 *   usage (model turns and compaction summaries), the compaction context and the open tool calls of the
 *   last turn; cost is recomputed from that usage at the agent's current prices (exact while unchanged);
 * - the workspace: the newest snapshot at or before the fork point (runtime/workspace-snapshots.ts); when a
 *   tool call in between has no usable snapshot, the nearest earlier one, and the result says so
 *   (`workspaceDetail.inexact`); a parent without snapshots (older worker, WORKSPACE_SNAPSHOTS=off) is
 *   copied as it is now, also said so;
 * - from the parent's workflow state (a state query): approve-for-session grants decided on calls at or
 *   before the fork point, and top-ups given while the parent's last seq was at or before it. If the
 *   parent cannot answer (say, a worker bug its resume is meant to get past), the fork starts without
 *   them and `carried.note` says why.
 * Not restored: recalled-memory bookkeeping, pending chat messages, decided approval records.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { StoreLinkError } from '../runtime/store/links';
import type { SessionStore, StoredMessage } from '../runtime/store';
import { toModelMessage } from '../runtime/model/messages';
import { openSessionWorkspace, workspacePath } from '../runtime/workspace';
import type { WorkspaceSnapshots } from '../runtime/workspace-snapshots';
import { mountExistingWorkspaceFs } from '../sandbox/quota';
import { stateQuery } from '../workflows/messages';
import { TRANSCRIPT_KEPT_ON_CONTINUE } from '../workflows/session/carry';
import type { Budget, ForkCarried, ForkPoint, ForkWorkspaceDetail, ModelTurn, SessionGrant, SessionState, TokenUsage, TranscriptEntry } from '../workflows/types';

const run = promisify(execFile);
const PREVIEW_CHARS = 400;

export interface ForkFromInput {
  sessionId: string;
  parentSessionId: string;
  atSeq?: number;
  /** The fork's agent (its model's prices price the inherited usage). */
  agent: string;
}

type Pricing = { inputPerMTokUsd: number; outputPerMTokUsd: number };

export interface ForkDeps {
  store: SessionStore;
  workspaceRoot: string;
  pricingOf: (agent: string) => Pricing;
  /** The worker's snapshot store; absent: snapshots are off (the parent's workspace is copied as it is now). */
  snapshots?: WorkspaceSnapshots;
  /** Whether calls of `tool` (of `agent`) are followed by a snapshot (so a result without one is a gap). */
  snapshotted?: (agent: string, tool: string) => boolean;
  /** The parent's workflow state (default: the state query, through the worker's client). */
  parentState?: (sessionId: string) => Promise<SessionState>;
}

/** How long the parent may take to answer the state query (a closed parent is replayed to answer it). */
const PARENT_STATE_TIMEOUT_MS = 30_000;
/** Top-ups a session's state keeps (workflows/session/handlers.ts TOP_UPS_KEPT): older ones are only in the sum. */
const TOP_UPS_KEPT = 50;

export function createForkActivities(deps: ForkDeps) {
  const readParentState = deps.parentState ?? parentStateReader();
  return {
    async forkFrom(input: ForkFromInput): Promise<ForkPoint & { costUsd: number }> {
      const { store } = deps;
      // Asked first: answering it may mean replaying a closed parent, which overlaps with the store work below.
      const parentState = Promise.resolve()
        .then(() => readParentState(input.parentSessionId))
        .then(
          (state) => ({ state }),
          (error: unknown) => ({ error }),
        );
      const refuse = (why: string): never => {
        throw ApplicationFailure.nonRetryable(`cannot fork ${input.parentSessionId} into ${input.sessionId}: ${why}`, 'InvalidForkPoint');
      };
      const existing = await store.parentOf(input.sessionId);
      // A retried attempt: the link is there already and says where the fork starts.
      const atSeq = existing?.parentId === input.parentSessionId ? existing.beforeSeq - 1 : await resolveAtSeq(store, input, refuse);
      const prefix = await store.list(input.parentSessionId, { beforeSeq: atSeq + 1 });
      if (!prefix.some((m) => m.seq === atSeq)) {
        refuse(`the parent has no stored entry at seq ${atSeq} (its stored entries end at ${prefix.at(-1)?.seq ?? 'none'}); fork at a stored seq`);
      }
      const point = forkPoint(prefix, atSeq, refuse);
      try {
        await store.link(input.sessionId, { parentId: input.parentSessionId, beforeSeq: atSeq + 1 });
      } catch (err) {
        if (err instanceof StoreLinkError) refuse(err.message);
        throw err;
      }
      const [workspace, carried] = await Promise.all([restoreWorkspace(deps, input, atSeq, prefix), carriedState(deps, input.parentSessionId, atSeq, await parentState)]);
      const pricing = deps.pricingOf(input.agent);
      const costUsd = (point.usage.promptTokens * pricing.inputPerMTokUsd + point.usage.completionTokens * pricing.outputPerMTokUsd) / 1_000_000;
      return { ...point, ...workspace, carried, costUsd };
    },
  };
}

/** The requested seq, or the parent's last stored entry (resume). */
async function resolveAtSeq(store: SessionStore, input: ForkFromInput, refuse: (why: string) => never): Promise<number> {
  if (input.atSeq !== undefined) {
    if (!Number.isInteger(input.atSeq) || input.atSeq < 0) refuse(`atSeq must be an integer >= 0, got ${input.atSeq}`);
    return input.atSeq;
  }
  const last = (await store.list(input.parentSessionId)).at(-1);
  if (!last) return refuse('the parent has no stored entries (it failed before its first model call; start it again instead)');
  return last.seq;
}

/** The parent's state after entry `atSeq`, from its stored prefix (pure: unit-testable). */
export function forkPoint(prefix: readonly StoredMessage[], atSeq: number, refuse: (why: string) => never): Omit<ForkPoint, 'workspace'> {
  const usage: TokenUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const add = (u: TokenUsage | undefined): void => {
    if (!u) return;
    usage.promptTokens += u.promptTokens;
    usage.completionTokens += u.completionTokens;
    usage.totalTokens += u.totalTokens;
  };
  let steps = 0;
  let lastTurn: ModelTurn | undefined;
  let lastPromptTokens = 0;
  let context: ForkPoint['context'];
  const transcript: TranscriptEntry[] = [];
  for (const m of prefix) {
    const meta = m.meta ?? {};
    const turn = meta.turn as ModelTurn | undefined;
    if (turn) {
      steps++;
      add(turn.usage);
      lastTurn = { ...turn, seq: m.seq };
      lastPromptTokens = turn.usage.promptTokens;
    }
    const compaction = meta.compaction as { contextFrom: number; summarySeq: number; usage: TokenUsage } | undefined;
    if (compaction) {
      add(compaction.usage);
      context = { fromSeq: compaction.contextFrom, summarySeq: compaction.summarySeq };
    }
    transcript.push(entryOf(m, turn));
  }
  const last = prefix.at(-1);
  // The last turn's tool calls took the seqs right after it; those without a stored result are still to run.
  const openCalls: ForkPoint['openCalls'] = [];
  if (lastTurn && lastTurn.toolCalls.length > 0) {
    const stored = new Set(prefix.map((m) => m.seq));
    lastTurn.toolCalls.forEach((call, i) => {
      const seq = lastTurn!.seq + 1 + i;
      if (stored.has(seq)) return;
      if (seq <= atSeq) {
        refuse(
          `the result of tool call ${call.name} (seq ${seq}) is not stored yet (the parent holds it in memory until its next model call); fork at seq ${lastTurn!.seq} or after the parent's next model call`,
        );
      }
      openCalls.push({ seq, call });
    });
  }
  const answered = last?.message.role === 'assistant' && (lastTurn?.toolCalls.length ?? 0) === 0 && lastTurn?.seq === last.seq;
  const nextSeq = Math.max(atSeq + 1, ...openCalls.map((c) => c.seq + 1));
  const kept = transcript.slice(-TRANSCRIPT_KEPT_ON_CONTINUE);
  return { atSeq, nextSeq, steps, usage, transcript: kept, openCalls, answered, ...(context ? { context } : {}), lastPromptTokens };
}

function entryOf(m: StoredMessage, turn: ModelTurn | undefined): TranscriptEntry {
  const msg = toModelMessage(m.message);
  const meta = m.meta ?? {};
  const kind = meta.kind === 'summary' ? ({ kind: 'summary' } as const) : {};
  switch (msg.role) {
    case 'assistant':
      return {
        seq: m.seq,
        role: 'assistant',
        text: msg.content,
        ...(turn?.toolCalls.length ? { toolCalls: turn.toolCalls.map(({ id, name, args, error }) => ({ id, name, args, ...(error ? { error } : {}) })) } : {}),
      };
    case 'tool':
      return {
        seq: m.seq,
        role: 'tool',
        toolCallId: msg.toolCallId,
        ...(typeof meta.tool === 'string' ? { tool: meta.tool } : {}),
        text: msg.content.slice(0, PREVIEW_CHARS),
        ok: meta.ok !== false,
      };
    default:
      return { seq: m.seq, role: msg.role, text: msg.content, ...kind };
  }
}

/**
 * The fork's workspace: the parent's as it was after entry `atSeq` (its newest usable snapshot at or before
 * it), else — no snapshots to restore from — the parent's as it is now, saying so.
 */
async function restoreWorkspace(
  deps: ForkDeps,
  input: ForkFromInput,
  atSeq: number,
  prefix: readonly StoredMessage[],
): Promise<Pick<ForkPoint, 'workspace' | 'workspaceDetail'>> {
  const dir = openSessionWorkspace(deps.workspaceRoot, input.sessionId).dir;
  const snapshots = deps.snapshots;
  if (!snapshots) {
    const copied = await copyCurrent(deps.workspaceRoot, input.parentSessionId, dir);
    return current(copied, `workspace snapshots are off on this worker (WORKSPACE_SNAPSHOTS=off): the parent's workspace as it is now, which may hold changes made after seq ${atSeq}`);
  }
  // Tool results the parent stored whose tools are followed by a snapshot: each should have a log record.
  const snapshotted = deps.snapshotted ?? (() => true);
  const toolSeqs = prefix.filter((m) => typeof m.meta?.tool === 'string' && m.meta.ok !== false && snapshotted(input.agent, m.meta.tool as string)).map((m) => m.seq);
  const choice = await snapshots.resolve(input.parentSessionId, atSeq, toolSeqs, (id) => deps.store.parentOf(id));
  if (choice.kind === 'unavailable') {
    const copied = await copyCurrent(deps.workspaceRoot, choice.session, dir);
    const note = [...choice.notes, `copied the workspace of ${choice.session} as it is now, which may hold changes made after seq ${atSeq}`].join('; ');
    // The fork's own snapshots start from what it got, marked as inexact (a fork of it at this seq says so too).
    await snapshots.recordStart(input.sessionId, atSeq, note);
    return current(copied, note);
  }
  const out = await snapshots.restore(choice, input.sessionId, dir, atSeq);
  const inexact = choice.notes.length ? choice.notes.join('; ').slice(0, 1000) : undefined;
  const detail: ForkWorkspaceDetail =
    choice.kind === 'snapshot'
      ? { from: 'snapshot', seq: choice.seq, session: choice.session, files: out.files, bytes: out.bytes, ...(inexact ? { inexact } : {}) }
      : { from: 'empty', files: 0, bytes: 0, ...(inexact ? { inexact } : {}) };
  return { workspace: out.entries > 0 ? 'restored' : 'none', workspaceDetail: detail };
}

function current(copied: { files: number; bytes: number } | null, inexact: string): Pick<ForkPoint, 'workspace' | 'workspaceDetail'> {
  return { workspace: copied ? 'copied' : 'none', workspaceDetail: { from: 'current', files: copied?.files ?? 0, bytes: copied?.bytes ?? 0, inexact } };
}

/** A workspace as it is now, copied into the fork's (reflinks where the filesystem has them); null when empty. */
async function copyCurrent(root: string, fromId: string, to: string): Promise<{ files: number; bytes: number } | null> {
  await mountExistingWorkspaceFs(to); // a disk image left for this id: cleared inside it, not under it
  for (const name of readdirSync(to)) await run('rm', ['-rf', '--one-file-system', '--', `${to}/${name}`]); // a retried attempt starts over
  const from = workspacePath(root, fromId);
  if (!existsSync(from)) return null;
  await mountExistingWorkspaceFs(from); // a size-limited workspace: its files, not the empty mount point
  if (readdirSync(from).length === 0) return null;
  // `cp -a` keeps modes and owners (the sandbox uid); --reflink=auto shares blocks on btrfs/xfs, copies elsewhere.
  await run('cp', ['-a', '--reflink=auto', '--', `${from}/.`, `${to}/`]);
  const { stdout } = await run('find', [to, '-mindepth', '1', '-type', 'f', '-printf', '%s\\n']);
  const sizes = stdout.split('\n').filter(Boolean).map(Number);
  return { files: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

/** Closed parents whose state was read (it cannot change any more), per worker. */
const CLOSED_STATES_KEPT = 64;

/**
 * The parent's state by the state query, through the worker's client. A closed parent has to be replayed
 * to answer (about 2 ms per step on the bench machine), so a closed parent's answer is kept for its run:
 * the next fork of the same parent asks only `describe`.
 */
function parentStateReader(): (sessionId: string) => Promise<SessionState> {
  const closed = new Map<string, { runId: string; state: SessionState }>();
  return async (sessionId) => {
    const client = Context.current().client;
    const handle = client.workflow.getHandle(sessionId);
    return client.withDeadline(Date.now() + PARENT_STATE_TIMEOUT_MS, async () => {
      const { runId, status } = await handle.describe();
      const kept = closed.get(sessionId);
      if (kept?.runId === runId) return kept.state;
      const state = await handle.query(stateQuery, { transcriptLimit: 1 });
      if (status.name !== 'RUNNING') {
        closed.delete(sessionId);
        closed.set(sessionId, { runId, state });
        if (closed.size > CLOSED_STATES_KEPT) closed.delete(closed.keys().next().value as string);
      }
      return state;
    });
  };
}

/** The seq of the call whose approval granted it (approval ids are `<session id>/<seq>`). */
export function grantSeq(grant: Pick<SessionGrant, 'approvalId'>): number | undefined {
  const m = /\/(\d+)$/.exec(grant.approvalId);
  return m ? Number(m[1]) : undefined;
}

/**
 * The grants and top-ups the parent had at the fork point (pure: unit-tested). `nextEntryAt`: when the
 * parent stored the entry after the fork point (places top-ups recorded before they carried a seq).
 */
export function carriedAt(state: Pick<SessionState, 'sessionGrants' | 'topUps'>, atSeq: number, nextEntryAt: string | undefined): ForkCarried {
  const notes: string[] = [];
  const grants = (state.sessionGrants ?? []).filter((g) => {
    const seq = grantSeq(g);
    if (seq === undefined) notes.push(`grant ${g.approvalId} names no seq: not carried`);
    return seq !== undefined && seq <= atSeq;
  });
  const entries = state.topUps ?? [];
  const placed = (t: SessionState['topUps'][number]): boolean =>
    typeof t.afterSeq === 'number' ? t.afterSeq <= atSeq : nextEntryAt === undefined || Date.parse(t.at) < Date.parse(nextEntryAt);
  const topUps = entries.filter(placed);
  if (entries.length >= TOP_UPS_KEPT && entries.length > 0 && !placed(entries[0])) {
    notes.push(`the parent's state keeps only its last ${TOP_UPS_KEPT} top-ups and the oldest of them came after the fork point: earlier ones cannot be placed and are not carried`);
  }
  const total: Budget = {};
  const last = topUps.at(-1);
  if (last?.total) {
    // The running sum at the last carried top-up: exact, also for top-ups older than the kept list.
    Object.assign(total, last.total);
  } else {
    for (const t of topUps) {
      if (t.add.maxSteps) total.maxSteps = (total.maxSteps ?? 0) + t.add.maxSteps;
      if (t.add.maxTokens) total.maxTokens = (total.maxTokens ?? 0) + t.add.maxTokens;
      if (t.add.maxCostUsd) total.maxCostUsd = (total.maxCostUsd ?? 0) + t.add.maxCostUsd;
    }
    if (entries.length >= TOP_UPS_KEPT && topUps.length > 0) {
      notes.push(`the parent's state keeps only its last ${TOP_UPS_KEPT} top-ups (recorded without running totals): older ones are not carried`);
    }
  }
  return { sessionGrants: grants, topUps, topUpTotal: total, ...(notes.length ? { note: notes.join('; ') } : {}) };
}

async function carriedState(deps: ForkDeps, parentId: string, atSeq: number, read: { state: SessionState } | { error: unknown }): Promise<ForkCarried> {
  if ('error' in read) {
    const why = (read.error as Error)?.message?.split('\n')[0]?.slice(0, 300) ?? String(read.error);
    return { sessionGrants: [], topUps: [], topUpTotal: {}, note: `the parent's state could not be read (${why}): no grants or top-ups carried` };
  }
  const { state } = read;
  const old = (state.topUps ?? []).some((t) => typeof t.afterSeq !== 'number');
  const next = old ? await deps.store.get(parentId, atSeq + 1) : undefined;
  return carriedAt(state, atSeq, next?.createdAt);
}
