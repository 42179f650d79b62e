/**
 * What crosses continue-as-new: the first state of a session, the carry a run hands to the next one,
 * and the migration of carries written by older code. A carry is versioned (`carryVersion`): a run
 * started by today's code may receive a carry from any older version (a session that continued as new
 * before a deploy), and migrates it here before reading it. Pure: unit-tested with recorded old shapes.
 *
 * Versions:
 *   1 (no `carryVersion` field): up to the split of the session loop.
 *   2: `carryVersion` added; `state.sessionGrants` (approve-for-session) may be present.
 */
import type { ApprovalRecord, Budget, CarriedState, ChatMessageIn, PendingMessage, SessionInput, SessionState } from '../types';

export const CARRY_VERSION = 2;
/** Newest transcript entries kept in the state across continue-as-new (older ones are in the store). */
export const TRANSCRIPT_KEPT_ON_CONTINUE = 200;
/** Decided approvals kept across continue-as-new (pending ones are always kept). */
export const DECIDED_APPROVALS_KEPT = 20;

export type CarryCheck = { ok: true; carry: CarriedState } | { ok: false; problem: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Brings a carry of any known version to the current shape. Refuses a carry from a newer version (a
 * newer worker continued the session and an older one picked it up): that worker must not guess.
 */
export function migrateCarry(raw: unknown): CarryCheck {
  if (!isObject(raw) || !isObject(raw.state)) return { ok: false, problem: 'carried state must be an object with a state' };
  const version = raw.carryVersion === undefined ? 1 : raw.carryVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    return { ok: false, problem: `carryVersion must be a positive integer, got ${JSON.stringify(version)}` };
  }
  if (version > CARRY_VERSION) {
    return { ok: false, problem: `carryVersion ${version} is newer than this worker understands (${CARRY_VERSION}); deploy the newer worker version` };
  }
  const s = raw.state as Partial<SessionState> & Record<string, unknown>;
  // v1 -> v2: fields that v1 runs always wrote are kept as they are; only what v2 added gets a default.
  const state: SessionState = {
    ...(s as SessionState),
    topUps: s.topUps ?? [],
    pendingApprovals: s.pendingApprovals ?? [],
    approvals: s.approvals ?? [],
    transcript: s.transcript ?? [],
    rejectedMessages: s.rejectedMessages ?? [],
    transcriptFrom: s.transcriptFrom ?? 0,
  };
  return {
    ok: true,
    carry: {
      ...(raw as unknown as CarriedState),
      carryVersion: CARRY_VERSION,
      state,
      pending: (raw.pending as PendingMessage[] | undefined) ?? [],
      inbox: (raw.inbox as ChatMessageIn[] | undefined) ?? [],
      topUps: (raw.topUps as Budget | undefined) ?? {},
      lastPromptTokens: (raw.lastPromptTokens as number | undefined) ?? 0,
      needInput: raw.needInput === true,
    },
  };
}

/** The state of a session's first run. */
export function initialState(sessionId: string, input: SessionInput): SessionState {
  return {
    sessionId,
    agent: input.agent,
    mode: input.mode ?? 'task',
    ...(input.userId ? { userId: input.userId } : {}),
    status: 'running',
    steps: 0,
    usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    costUsd: 0,
    budget: {},
    topUps: [],
    run: 1,
    transcriptFrom: 0,
    pendingApprovals: [],
    approvals: [],
    transcript: [],
    rejectedMessages: [],
    ...(input.delegation
      ? { delegatedFrom: { sessionId: input.delegation.parentSessionId, depth: input.delegation.depth, seq: input.delegation.seq, budget: { ...input.delegation.budget }, reports: 0 } }
      : {}),
  };
}

/** Keeps the pending approvals and the last decided ones. */
export function approvalsToCarry(approvals: readonly ApprovalRecord[]): ApprovalRecord[] {
  return approvals.filter((a) => a.status === 'pending').concat(approvals.filter((a) => a.status !== 'pending').slice(-DECIDED_APPROVALS_KEPT));
}

/**
 * The carry for the next run: counters, references and the newest transcript entries (sorts the
 * state's transcript in place, as the run is about to end anyway).
 */
export function buildCarry(parts: {
  state: SessionState;
  nextSeq: number;
  pending: PendingMessage[];
  inbox: ChatMessageIn[];
  topUps: Budget;
  needInput: boolean;
  context?: CarriedState['context'];
  lastPromptTokens: number;
}): CarriedState {
  const { state, nextSeq } = parts;
  const keep = state.transcript.sort((a, b) => a.seq - b.seq).slice(-TRANSCRIPT_KEPT_ON_CONTINUE);
  return {
    // Only the command type of a continue-as-new is compared on replay, so older runs may hand on a
    // versioned carry too; the next run migrates whatever it gets.
    carryVersion: CARRY_VERSION,
    state: { ...state, transcript: keep, transcriptFrom: keep[0]?.seq ?? nextSeq, approvals: approvalsToCarry(state.approvals) },
    nextSeq,
    pending: parts.pending,
    inbox: parts.inbox,
    topUps: parts.topUps,
    needInput: parts.needInput,
    ...(parts.context ? { context: parts.context } : {}),
    lastPromptTokens: parts.lastPromptTokens,
  };
}
