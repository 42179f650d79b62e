/**
 * One agent session = one workflow. The model call and each tool call are activities; the loop
 * pauses on approvals (durable: worker crashes, deploys and server restarts do not lose it).
 *
 * History stays linear in the transcript: messages live in the session store, written by
 * activities keyed by (session, seq). The workflow passes only the messages it created itself
 * (the task, error/rejection notes) and sequence numbers; activities return short previews.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type * as activities from '../activities';
import { ApprovalDecision, approvalSignal, decideApprovalUpdate, stateQuery } from './messages';
import type {
  ApprovalRecord,
  CheckedToolCall,
  SessionInput,
  SessionResult,
  SessionState,
  SessionStatus,
  TranscriptEntry,
} from './types';

type Activities = ReturnType<typeof activities.createActivities>;
type PendingMessage = { seq: number; message: Record<string, unknown> };

export const SessionStatusKey = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
export const AgentNameKey = defineSearchAttributeKey('AgentName', SearchAttributeType.KEYWORD);
export const PendingApprovalsKey = defineSearchAttributeKey('PendingApprovals', SearchAttributeType.INT);
export const TokensUsedKey = defineSearchAttributeKey('TokensUsed', SearchAttributeType.INT);
export const UserIdKey = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);

const { describeAgent } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5 },
});
// Per-tool timeouts and retries are given at each call (executeWithOptions), from the agent's spec.
const { runTool } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

// Rate limits, 5xx and timeouts are retried with backoff (the openai client's own retries are off, so
// every attempt is visible in history); auth and bad-request errors are non-retryable.
const MODEL_ACTIVITY = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 8 },
} as const;
const { callModel } = proxyActivities<Activities>(MODEL_ACTIVITY);

export async function agentSession(input: SessionInput): Promise<SessionResult> {
  const sessionId = workflowInfo().workflowId;
  const state: SessionState = {
    sessionId,
    agent: input.agent,
    status: 'running',
    steps: 0,
    usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    pendingApprovals: [],
    approvals: [],
    transcript: [],
    rejectedMessages: [],
  };
  const approvals = new Map<string, ApprovalRecord>();
  let searchAttributes = false;

  const publish = (status?: SessionStatus): void => {
    const pending = [...approvals.values()].filter((a) => a.status === 'pending');
    state.pendingApprovals = pending;
    state.approvals = [...approvals.values()];
    if (status) state.status = status;
    else if (state.status === 'running' || state.status === 'awaiting_approval') {
      state.status = pending.length > 0 ? 'awaiting_approval' : 'running';
    }
    setCurrentDetails(
      pending.length > 0
        ? `Waiting for approval: ${pending.map((a) => `${a.approvalId} ${a.tool} (${a.reason})`).join('; ')}`
        : `Status: ${state.status}, ${state.steps} model steps, ${state.usage.totalTokens} tokens`,
    );
    if (searchAttributes) {
      upsertSearchAttributes([
        { key: SessionStatusKey, value: state.status },
        { key: PendingApprovalsKey, value: pending.length },
        { key: TokensUsedKey, value: state.usage.totalTokens },
      ]);
    }
  };

  /** Returns why a decision cannot apply, or undefined when it can. */
  const checkDecision = (raw: unknown): string | undefined => {
    const parsed = ApprovalDecision.safeParse(raw);
    if (!parsed.success) return `malformed approval: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`;
    const record = approvals.get(parsed.data.approvalId);
    if (!record) return `unknown approvalId '${parsed.data.approvalId}'`;
    if (record.status !== 'pending') return `approval '${record.approvalId}' is already ${record.status}`;
    return undefined;
  };

  const applyDecision = (decision: ApprovalDecision): ApprovalRecord => {
    const record = approvals.get(decision.approvalId)!;
    record.status = decision.decision === 'approve' ? 'approved' : 'rejected';
    record.approver = decision.approver;
    if (decision.comment !== undefined) record.comment = decision.comment;
    record.decidedAt = new Date().toISOString();
    publish();
    return record;
  };

  setHandler(stateQuery, () => ({ ...state, transcript: [...state.transcript].sort((a, b) => a.seq - b.seq) }));
  setHandler(approvalSignal, (raw) => {
    const problem = checkDecision(raw);
    if (problem) {
      // A signal cannot answer its sender; keep the reason where operators look (state query, logs).
      state.rejectedMessages.push({ at: new Date().toISOString(), reason: problem });
      log.warn('approval signal ignored', { reason: problem });
      return;
    }
    applyDecision(raw);
  });
  setHandler(decideApprovalUpdate, (decision) => applyDecision(decision), {
    validator: (raw) => {
      const problem = checkDecision(raw);
      if (problem) throw new Error(problem);
    },
  });

  const spec = await describeAgent(input.agent);
  searchAttributes = spec.searchAttributes;
  if (searchAttributes) {
    upsertSearchAttributes([
      { key: AgentNameKey, value: spec.name },
      ...(input.userId ? [{ key: UserIdKey, value: input.userId }] : []),
    ]);
  }
  publish();

  let nextSeq = 0;
  const pending: PendingMessage[] = [];
  const addMessage = (message: Record<string, unknown>, entry: Omit<TranscriptEntry, 'seq'>): number => {
    const seq = nextSeq++;
    pending.push({ seq, message });
    state.transcript.push({ seq, ...entry });
    return seq;
  };
  addMessage({ role: 'system', content: spec.instructions }, { role: 'system', text: spec.instructions });
  addMessage({ role: 'user', content: input.task }, { role: 'user', text: input.task });

  const toolSpecs = new Map(spec.tools.map((t) => [t.name, t]));

  const runToolCall = async (call: CheckedToolCall, seq: number): Promise<void> => {
    const note = (text: string, ok: boolean): void => {
      pending.push({ seq, message: { role: 'tool', tool_call_id: call.id, content: text } });
      state.transcript.push({ seq, role: 'tool', toolCallId: call.id, tool: call.name, text, ok });
    };
    if (call.error) return note(`Error: ${call.error}`, false);

    if (call.approval) {
      const requestedAt = new Date();
      const record: ApprovalRecord = {
        approvalId: `${sessionId}/${seq}`,
        seq,
        toolCallId: call.id,
        tool: call.name,
        args: call.args,
        argsHash: call.approval.argsHash,
        policyVersion: call.approval.policyVersion,
        reason: call.approval.reason,
        requestedAt: requestedAt.toISOString(),
        deadline: new Date(requestedAt.getTime() + spec.approvalTimeoutMs).toISOString(),
        status: 'pending',
      };
      approvals.set(record.approvalId, record);
      publish();
      const decided = await condition(() => record.status !== 'pending', spec.approvalTimeoutMs, {
        summary: `approval deadline for ${call.summary}`,
      });
      if (!decided) {
        record.status = 'expired';
        record.decidedAt = new Date().toISOString();
        publish();
      }
      if (record.status !== 'approved') {
        const who = record.approver ? ` by ${record.approver}` : '';
        const why = record.comment ? `: ${record.comment}` : '';
        return note(
          record.status === 'expired'
            ? `The call was not run: approval expired at ${record.deadline} without a decision (default deny).`
            : `The call was not run: rejected${who}${why}.`,
          false,
        );
      }
    }

    const tool = toolSpecs.get(call.name)!;
    try {
      const result = await runTool.executeWithOptions(
        {
          startToCloseTimeout: tool.timeoutMs,
          heartbeatTimeout: Math.min(tool.timeoutMs, spec.heartbeatTimeoutMs),
          retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: tool.maxAttempts },
          summary: `tool ${call.summary}`,
        },
        [
          { sessionId, agent: spec.name, seq, toolCallId: call.id, name: call.name, args: call.args },
        ],
      );
      state.transcript.push({ seq, role: 'tool', toolCallId: call.id, tool: call.name, text: result.preview, ok: result.ok });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const cause = err.cause instanceof Error ? err.cause.message : err.message;
      note(`Error: tool '${call.name}' failed: ${cause}`, false);
    }
  };

  for (;;) {
    let turn: Awaited<ReturnType<Activities['callModel']>>;
    const seq = nextSeq++;
    try {
      turn = await callModel.executeWithOptions(
        { ...MODEL_ACTIVITY, heartbeatTimeout: spec.heartbeatTimeoutMs, summary: `model ${spec.model} (step ${state.steps + 1})` },
        [{ sessionId, agent: spec.name, model: spec.model, seq, pending: pending.splice(0) }],
      );
    } catch (err) {
      // Non-retryable model errors (auth, bad request) or retries exhausted: the session fails with the reason visible.
      const reason = err instanceof ActivityFailure && err.cause instanceof Error ? err.cause.message : String(err);
      state.error = `model call failed: ${reason}`;
      publish('failed');
      throw ApplicationFailure.nonRetryable(state.error, 'ModelCallFailed');
    }
    state.steps++;
    state.usage.promptTokens += turn.usage.promptTokens;
    state.usage.completionTokens += turn.usage.completionTokens;
    state.usage.totalTokens += turn.usage.totalTokens;
    state.transcript.push({
      seq,
      role: 'assistant',
      text: turn.content,
      ...(turn.toolCalls.length ? { toolCalls: turn.toolCalls.map(({ id, name, args, error }) => ({ id, name, args, error })) } : {}),
    });
    publish();

    if (turn.toolCalls.length === 0) {
      state.finalAnswer = turn.content ?? '';
      publish('completed');
      await condition(allHandlersFinished);
      return { status: 'completed', finalAnswer: state.finalAnswer, steps: state.steps, usage: state.usage };
    }

    // Independent calls of one turn run in parallel; each waits for its own approval if it needs one.
    const seqs = turn.toolCalls.map(() => nextSeq++);
    await Promise.all(turn.toolCalls.map((call, i) => runToolCall(call, seqs[i])));
    pending.sort((a, b) => a.seq - b.seq);
    publish();
  }
}
