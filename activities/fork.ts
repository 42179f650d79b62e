/**
 * The first activity of a fork: links the fork's transcript to its parent's prefix in the session store
 * (no copy, runtime/store/links.ts), works out the parent's state at the fork point from the stored
 * entries, and copies the parent's workspace. Idempotent: a retried attempt finds the same link.
 *
 * What is restored exactly: the transcript (every stored entry up to the fork point), steps (model turns),
 * token usage (model turns and compaction summaries), the compaction context and the open tool calls of
 * the last turn. Cost is recomputed from that usage at the agent's current prices (exact while they did
 * not change). Not restored: top-ups, approve-for-session grants and recalled memory state (they live in
 * the parent's workflow state, not in the store); the workspace is the parent's as it is when the fork
 * starts (no per-step snapshots exist), copied with reflinks where the filesystem supports them.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import { StoreLinkError } from '../runtime/store/links';
import type { SessionStore, StoredMessage } from '../runtime/store';
import { toModelMessage } from '../runtime/model/messages';
import { openSessionWorkspace, workspacePath } from '../runtime/workspace';
import { TRANSCRIPT_KEPT_ON_CONTINUE } from '../workflows/session/carry';
import type { ForkPoint, ModelTurn, TokenUsage, TranscriptEntry } from '../workflows/types';

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

export function createForkActivities(deps: { store: SessionStore; workspaceRoot: string; pricingOf: (agent: string) => Pricing }) {
  return {
    async forkFrom(input: ForkFromInput): Promise<ForkPoint & { costUsd: number }> {
      const { store } = deps;
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
      const workspace = await copyWorkspace(deps.workspaceRoot, input.parentSessionId, input.sessionId);
      const pricing = deps.pricingOf(input.agent);
      const costUsd = (point.usage.promptTokens * pricing.inputPerMTokUsd + point.usage.completionTokens * pricing.outputPerMTokUsd) / 1_000_000;
      return { ...point, workspace, costUsd };
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

/** The parent's workspace as it is now, copied (reflinks where the filesystem has them) into the fork's. */
async function copyWorkspace(root: string, parentId: string, forkId: string): Promise<'copied' | 'none'> {
  const from = workspacePath(root, parentId);
  if (!existsSync(from) || readdirSync(from).length === 0) return 'none';
  const to = openSessionWorkspace(root, forkId).dir;
  // `cp -a` keeps modes and owners (the sandbox uid); --reflink=auto shares blocks on btrfs/xfs, copies elsewhere.
  await run('cp', ['-a', '--reflink=auto', '--', `${from}/.`, `${to}/`]);
  return 'copied';
}
