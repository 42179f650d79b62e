/**
 * Hand-written checks for every message a session accepts. They run inside the workflow (validators and
 * signal handlers), where zod would cost ~1 MiB per cached session, so they are plain code with no
 * imports beyond the shared bounds and the session id grammar. `test/validate.test.ts` holds them to the
 * zod schemas the edges use (`runtime/message-schemas.ts`, `runtime/delegates.ts`): both must accept and
 * refuse the same inputs. Messages only sessions send each other (sub-agent reports, forwarded decisions)
 * have no edge schema; they are checked all the same.
 *
 * Every check is bounded before it looks deeper: sizes first, then depth with an explicit stack, so a
 * hostile payload (megabytes, thousands of levels) costs little and never throws outside these functions.
 */
import { LIMITS } from './limits';
import type { ApprovalDecision, BudgetTopUp, ChatMessage, EndRequest, ExternalEvent, ForwardedDecision, SubAgentReport } from './messages';
import { sessionIdProblem } from './session-id';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

const fail = (problem: string): { ok: false; problem: string } => ({ ok: false, problem });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function unknownKeys(obj: Record<string, unknown>, allowed: readonly string[]): string[] {
  return Object.keys(obj).filter((k) => !allowed.includes(k));
}

/** A short, bounded rendering of a key the caller sent (never echo unbounded input). */
function shown(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}

function optionalString(obj: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return `${field} must be a string`;
  if (v.length > max) return `${field} is ${v.length} characters; at most ${max} are allowed`;
  return undefined;
}

function requiredIdentity(obj: Record<string, unknown>, field: string): string | undefined {
  const v = obj[field];
  if (typeof v !== 'string' || v.trim().length === 0) return `${field} is required`;
  if (v.length > LIMITS.identityChars) return `${field} is ${v.length} characters; at most ${LIMITS.identityChars} are allowed`;
  return undefined;
}

/**
 * Why a JSON value is too big or too deep, or undefined when it fits. Walks with an explicit stack and
 * stops at the first bound crossed, so its cost is bounded by the limits, not by the input.
 */
export function jsonShapeProblem(
  value: unknown,
  what: string,
  limits: { depth: number; nodes: number; bytes: number; keyChars: number } = {
    depth: LIMITS.editedArgsDepth,
    nodes: LIMITS.editedArgsNodes,
    bytes: LIMITS.editedArgsBytes,
    keyChars: LIMITS.editedArgsKeyChars,
  },
): string | undefined {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 1 }];
  // Values are counted when they are pushed, and a container is refused before its children are pushed
  // when they would cross the bound: the walk never holds more than `limits.nodes` entries.
  let nodes = 1;
  let bytes = 0;
  const tooMany = `${what} has more than ${limits.nodes} values; send fewer`;
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (depth > limits.depth) return `${what} is nested deeper than ${limits.depth} levels; flatten it`;
    if (v === null || typeof v === 'boolean') bytes += 5;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${what} contains a number that is not finite`;
      bytes += 24;
    } else if (typeof v === 'string') bytes += v.length + 2;
    else if (Array.isArray(v)) {
      if ((nodes += v.length) > limits.nodes) return tooMany;
      bytes += 2;
      for (const item of v) stack.push({ v: item, depth: depth + 1 });
    } else if (isPlainObject(v)) {
      const keys = Object.keys(v);
      if ((nodes += keys.length) > limits.nodes) return tooMany;
      bytes += 2;
      for (const k of keys) {
        if (k.length > limits.keyChars) return `${what} has a key of ${k.length} characters; at most ${limits.keyChars} are allowed`;
        bytes += k.length + 4;
        stack.push({ v: v[k], depth: depth + 1 });
      }
    } else return `${what} contains a value that is not JSON (${typeof v})`;
    if (bytes > limits.bytes) return `${what} is larger than ${limits.bytes} bytes; send less`;
  }
  return undefined;
}

const DECISION_KEYS = ['approvalId', 'decision', 'approver', 'comment', 'argsHash', 'editedArgs', 'scope', 'keyId', 'signature', 'expiresAt', 'via'] as const;
const HASH = /^[0-9a-f]{64}$/;
export const KEY_ID = /^[A-Za-z0-9._:@-]+$/;
export const SIGNATURE = /^[0-9a-f]{128}$/;
/** ISO 8601 instant in UTC as Date#toISOString writes it (seconds required, fraction optional). */
export const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
export const DECISION_VIA = ['http', 'cli', 'service'] as const;

/** Why the signing fields of a decision are wrong, or undefined (all three together, or none). */
export function signingFieldsProblem(raw: Record<string, unknown>): string | undefined {
  const { keyId, signature, expiresAt } = raw;
  const given = [keyId, signature, expiresAt].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3) return 'a signed decision needs keyId, signature and expiresAt together';
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > LIMITS.keyIdChars || !KEY_ID.test(keyId)) {
    return `keyId must be 1-${LIMITS.keyIdChars} characters of A-Z a-z 0-9 . _ : @ -`;
  }
  if (typeof signature !== 'string' || !SIGNATURE.test(signature)) return 'signature must be 128 lowercase hex digits (an Ed25519 signature)';
  if (typeof expiresAt !== 'string' || !INSTANT.test(expiresAt) || Number.isNaN(Date.parse(expiresAt))) {
    return 'expiresAt must be an ISO 8601 UTC instant such as 2030-01-01T00:00:00.000Z';
  }
  if (raw.argsHash === undefined) return 'a signed decision must carry the argsHash it was signed over';
  return undefined;
}

export function checkApprovalDecision(raw: unknown): Checked<ApprovalDecision> {
  if (!isPlainObject(raw)) return fail('a decision must be an object {approvalId, decision, approver, ...}');
  const extra = unknownKeys(raw, DECISION_KEYS);
  if (extra.length) return fail(`unknown field${extra.length > 1 ? 's' : ''} ${extra.slice(0, 3).map(shown).join(', ')}; allowed: ${DECISION_KEYS.join(', ')}`);
  const { approvalId, decision, argsHash, editedArgs, scope } = raw;
  if (typeof approvalId !== 'string' || approvalId.length === 0) return fail('approvalId is required');
  if (approvalId.length > LIMITS.approvalIdChars) return fail(`approvalId is ${approvalId.length} characters; at most ${LIMITS.approvalIdChars} are allowed`);
  if (decision !== 'approve' && decision !== 'reject') return fail("decision must be 'approve' or 'reject'");
  const problem =
    requiredIdentity(raw, 'approver') ??
    optionalString(raw, 'comment', LIMITS.commentChars) ??
    (argsHash !== undefined && (typeof argsHash !== 'string' || !HASH.test(argsHash))
      ? 'argsHash must be the 64-hex-digit hash shown with the request'
      : undefined) ??
    (editedArgs !== undefined && !isPlainObject(editedArgs) ? 'editedArgs must be an object of tool arguments' : undefined) ??
    (editedArgs !== undefined ? jsonShapeProblem(editedArgs, 'editedArgs') : undefined) ??
    (editedArgs !== undefined && decision !== 'approve' ? 'editedArgs only go with approve' : undefined) ??
    (scope !== undefined && scope !== 'call' && scope !== 'session' ? "scope must be 'call' or 'session'" : undefined) ??
    (scope === 'session' && decision !== 'approve' ? "scope 'session' only goes with approve" : undefined) ??
    (raw.via !== undefined && !(DECISION_VIA as readonly unknown[]).includes(raw.via) ? `via must be one of ${DECISION_VIA.join(', ')}` : undefined) ??
    signingFieldsProblem(raw);
  if (problem) return fail(problem);
  return { ok: true, value: raw as unknown as ApprovalDecision };
}

export function checkChatMessage(raw: unknown): Checked<ChatMessage> {
  if (!isPlainObject(raw)) return fail('a message must be an object {text}');
  const extra = unknownKeys(raw, ['text']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}; a message has only text`);
  if (typeof raw.text !== 'string') return fail('message text must be a string');
  if (raw.text.trim().length === 0) return fail('message text is empty');
  if (raw.text.length > LIMITS.chatMessageChars) return fail(`message text is ${raw.text.length} characters; at most ${LIMITS.chatMessageChars} are allowed (send a reference to a document instead)`);
  return { ok: true, value: raw as unknown as ChatMessage };
}

const TOP_UP_KEYS = ['approver', 'addSteps', 'addTokens', 'addCostUsd', 'comment'] as const;

function positive(raw: Record<string, unknown>, field: string, max: number, integer: boolean): string | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    return `${field} must be a positive ${integer ? 'integer' : 'number'}`;
  }
  if (v > max) return `${field} is ${v}; at most ${max} at a time`;
  return undefined;
}

export function checkBudgetTopUp(raw: unknown): Checked<BudgetTopUp> {
  if (!isPlainObject(raw)) return fail('a top-up must be an object {approver, addSteps?, addTokens?, addCostUsd?, comment?}');
  const extra = unknownKeys(raw, TOP_UP_KEYS);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}; allowed: ${TOP_UP_KEYS.join(', ')}`);
  const problem =
    requiredIdentity(raw, 'approver') ??
    positive(raw, 'addSteps', LIMITS.topUpSteps, true) ??
    positive(raw, 'addTokens', LIMITS.topUpTokens, true) ??
    positive(raw, 'addCostUsd', LIMITS.topUpCostUsd, false) ??
    optionalString(raw, 'comment', LIMITS.commentChars) ??
    (raw.addSteps === undefined && raw.addTokens === undefined && raw.addCostUsd === undefined ? 'a top-up adds steps, tokens or cost' : undefined);
  if (problem) return fail(problem);
  return { ok: true, value: raw as unknown as BudgetTopUp };
}

export function checkEndRequest(raw: unknown): Checked<EndRequest> {
  if (raw === undefined || raw === null) return { ok: true, value: {} };
  if (!isPlainObject(raw)) return fail('an end request must be an object {reason?, by?}');
  const extra = unknownKeys(raw, ['reason', 'by']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}; allowed: reason, by`);
  const problem = optionalString(raw, 'reason', LIMITS.endReasonChars) ?? optionalString(raw, 'by', LIMITS.identityChars);
  if (problem) return fail(problem);
  return { ok: true, value: raw as EndRequest };
}

/** Event names: what `waits.events` lists and `eventSignal` carries. */
export const EVENT_NAME = /^[a-z0-9][a-z0-9_.-]*$/;
export const EVENT_PAYLOAD_LIMITS = { depth: LIMITS.eventPayloadDepth, nodes: LIMITS.eventPayloadNodes, bytes: LIMITS.eventPayloadBytes, keyChars: 200 } as const;

/** Why an event name is not allowed, or undefined. */
export function eventNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'name is required (e.g. payment_received)';
  if (name.length > LIMITS.eventNameChars) return `name is ${name.length} characters; at most ${LIMITS.eventNameChars} are allowed`;
  if (!EVENT_NAME.test(name)) return 'name must be lowercase a-z 0-9 _ . - starting with a letter or digit (e.g. payment_received)';
  return undefined;
}

export function checkExternalEvent(raw: unknown): Checked<ExternalEvent> {
  if (!isPlainObject(raw)) return fail('an event must be an object {name, payload?, id?}');
  const extra = unknownKeys(raw, ['name', 'payload', 'id']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}; allowed: name, payload, id`);
  const problem =
    eventNameProblem(raw.name) ??
    (raw.id !== undefined && (typeof raw.id !== 'string' || raw.id.length === 0) ? 'id must be a non-empty string' : undefined) ??
    optionalString(raw, 'id', LIMITS.eventIdChars) ??
    (raw.payload !== undefined ? jsonShapeProblem(raw.payload, 'payload', EVENT_PAYLOAD_LIMITS) : undefined);
  if (problem) return fail(problem);
  return { ok: true, value: raw as unknown as ExternalEvent };
}

/** A task for a sub-agent: `{task}` with at least one non-space character, at most LIMITS.delegateTaskChars. */
export function checkDelegateArgs(raw: unknown): Checked<{ task: string }> {
  if (!isPlainObject(raw)) return fail('arguments must be an object {task}');
  const extra = unknownKeys(raw, ['task']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}; a delegation has only task`);
  if (typeof raw.task !== 'string') return fail('task must be a string');
  if (raw.task.length > LIMITS.delegateTaskChars) return fail(`task is ${raw.task.length} characters; at most ${LIMITS.delegateTaskChars} are allowed`);
  if (!/\S/.test(raw.task)) return fail('task is empty');
  return { ok: true, value: { task: raw.task } };
}

const nonNegativeInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const nonNegative = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const SESSION_STATUSES = ['running', 'awaiting_approval', 'awaiting_input', 'budget_exhausted', 'completed', 'failed', 'cancelled'];
const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'withdrawn'];
/** The whole of a report: bounded before anything in it is looked at. */
const REPORT_LIMITS = { depth: 24, nodes: 100_000, bytes: 1024 * 1024, keyChars: 200 } as const;
const ARGS_LIMITS = { depth: LIMITS.editedArgsDepth, nodes: LIMITS.editedArgsNodes, bytes: LIMITS.subAgentArgsBytes, keyChars: LIMITS.editedArgsKeyChars } as const;

function stringField(obj: Record<string, unknown>, field: string, max: number, required = true): string | undefined {
  const v = obj[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || (required && v.length === 0)) return `${field} must be a string`;
  if (v.length > max) return `${field} is ${v.length} characters; at most ${max} are allowed`;
  return undefined;
}

/** Why an approval record a sub-agent reports is not one, or undefined. Extra fields are allowed (newer code may add some). */
export function approvalRecordProblem(raw: unknown): string | undefined {
  if (!isPlainObject(raw)) return 'an approval record must be an object';
  const problem =
    stringField(raw, 'approvalId', LIMITS.approvalIdChars) ??
    stringField(raw, 'tool', 64) ??
    (typeof raw.argsHash !== 'string' || !HASH.test(raw.argsHash) ? 'argsHash must be 64 hex digits' : undefined) ??
    stringField(raw, 'policyVersion', 200) ??
    stringField(raw, 'reason', LIMITS.commentChars, false) ??
    stringField(raw, 'approverGroup', LIMITS.identityChars) ??
    stringField(raw, 'requestedAt', 40) ??
    stringField(raw, 'deadline', 40) ??
    (typeof raw.status !== 'string' || !APPROVAL_STATUSES.includes(raw.status) ? `status must be one of ${APPROVAL_STATUSES.join(', ')}` : undefined) ??
    (typeof raw.seq !== 'number' || !Number.isInteger(raw.seq) || raw.seq < 0 ? 'seq must be an integer >= 0' : undefined) ??
    (raw.sessionId !== undefined ? sessionIdProblem(raw.sessionId) : undefined) ??
    (raw.args !== undefined ? jsonShapeProblem(raw.args, 'args', ARGS_LIMITS) : undefined);
  return problem ? `approval record: ${problem}` : undefined;
}

function totalsProblem(raw: unknown): string | undefined {
  if (!isPlainObject(raw)) return 'final must be an object';
  const usage = raw.usage;
  if (!nonNegativeInt(raw.steps)) return 'final.steps must be an integer >= 0';
  if (!isPlainObject(usage) || !nonNegativeInt(usage.promptTokens) || !nonNegativeInt(usage.completionTokens) || !nonNegativeInt(usage.totalTokens)) {
    return 'final.usage must be {promptTokens, completionTokens, totalTokens}, integers >= 0';
  }
  if (!nonNegative(raw.costUsd)) return 'final.costUsd must be a number >= 0';
  if (typeof raw.status !== 'string' || !SESSION_STATUSES.includes(raw.status)) return 'final.status is not a session status';
  return stringField(raw, 'error', LIMITS.rejectionReasonChars * 4, false);
}

/** A sub-agent's report to the session that delegated to it (`subAgentReportSignal`). */
export function checkSubAgentReport(raw: unknown): Checked<SubAgentReport> {
  if (!isPlainObject(raw)) return fail('a report must be an object {sessionId, version, pendingApprovals, final?, outcome?}');
  const size = jsonShapeProblem(raw, 'report', REPORT_LIMITS);
  if (size) return fail(size);
  const extra = unknownKeys(raw, ['sessionId', 'version', 'pendingApprovals', 'final', 'outcome']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}`);
  const idProblem = sessionIdProblem(raw.sessionId);
  if (idProblem) return fail(idProblem);
  if (typeof raw.version !== 'number' || !Number.isInteger(raw.version) || raw.version < 1) return fail('version must be an integer >= 1');
  const pending = raw.pendingApprovals;
  if (!Array.isArray(pending)) return fail('pendingApprovals must be an array');
  if (pending.length > LIMITS.subAgentApprovalsShown) return fail(`pendingApprovals has ${pending.length} records; at most ${LIMITS.subAgentApprovalsShown}`);
  for (const r of pending) {
    const p = approvalRecordProblem(r);
    if (p) return fail(p);
  }
  if (raw.final !== undefined) {
    const p = totalsProblem(raw.final);
    if (p) return fail(p);
  }
  const o = raw.outcome;
  if (o !== undefined) {
    if (!isPlainObject(o)) return fail('outcome must be an object {ref, ok, record?, problem?}');
    const p =
      stringField(o, 'ref', 100) ??
      (typeof o.ok !== 'boolean' ? 'outcome.ok must be a boolean' : undefined) ??
      (o.record !== undefined ? approvalRecordProblem(o.record) : undefined) ??
      stringField(o, 'problem', LIMITS.rejectionReasonChars * 4, false);
    if (p) return fail(p);
  }
  return { ok: true, value: raw as unknown as SubAgentReport };
}

/** A decision forwarded by a delegating session (`delegatedDecisionSignal`); the decision itself is checked like any. */
export function checkForwardedDecision(raw: unknown): Checked<ForwardedDecision> {
  if (!isPlainObject(raw)) return fail('a forwarded decision must be an object {ref, decision, channel, from}');
  const extra = unknownKeys(raw, ['ref', 'decision', 'channel', 'from']);
  if (extra.length) return fail(`unknown field ${shown(extra[0])}`);
  const problem =
    stringField(raw, 'ref', 100) ??
    (raw.channel !== 'signal' && raw.channel !== 'update' ? "channel must be 'signal' or 'update'" : undefined) ??
    sessionIdProblem(raw.from);
  if (problem) return fail(problem);
  const decision = checkApprovalDecision(raw.decision);
  if (!decision.ok) return fail(`decision: ${decision.problem}`);
  return { ok: true, value: raw as unknown as ForwardedDecision };
}

const BUDGET_KEYS = ['maxSteps', 'maxTokens', 'maxCostUsd'] as const;

/** Why a session's delegation request (set by its parent) cannot be taken, or undefined. */
export function delegationRequestProblem(raw: unknown): string | undefined {
  if (!isPlainObject(raw)) return 'delegation must be an object';
  if (raw.delegationVersion !== 1) return `delegation version ${JSON.stringify(raw.delegationVersion)} is not one this worker understands (1)`;
  const parent = sessionIdProblem(raw.parentSessionId);
  if (parent) return `parent ${parent}`;
  if (typeof raw.depth !== 'number' || !Number.isInteger(raw.depth) || raw.depth < 1 || raw.depth > LIMITS.delegationDepth) {
    return `depth must be an integer from 1 to ${LIMITS.delegationDepth}`;
  }
  if (!nonNegativeInt(raw.seq)) return 'seq must be an integer >= 0';
  const b = raw.budget;
  if (!isPlainObject(b) || unknownKeys(b, BUDGET_KEYS).length) return `budget must be an object of ${BUDGET_KEYS.join(', ')}`;
  for (const k of BUDGET_KEYS) {
    const v = b[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) return `budget.${k} must be a positive number`;
  }
  return undefined;
}

/** Keeps caller-derived text (rejection reasons, comments echoed in summaries) within a bound. */
export function bounded(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… [${text.length - max} more characters]` : text;
}
