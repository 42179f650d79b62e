/**
 * One tool call the model asked for: refused at once when it was invalid, waits for approval when the
 * policy says so, then runs as a local or regular activity. Whatever happens, the model gets a result.
 */
import { ActivityCancellationType, isCancellation, patched } from '@temporalio/workflow';
import type { LocalActivityOptions } from '@temporalio/common';
import type { CheckedToolCall, ToolRunResult, TranscriptEntry } from '../types';
import { local, runTool } from './activities';
import { approveByGrant, awaitApproval } from './approval-wait';
import { editedArgsNote, grantFor, notRunText, transcriptApproval } from './approvals';
import { DELEGATION_PATCH, EDITED_ARGS_PATCH, SESSION_GRANTS_PATCH, WAITS_PATCH } from './patches';
import { runBuiltinWait } from './waits';
import { runDelegation } from './delegate-call';
import { activityError } from './failures';
import type { SessionRun } from './run';

export async function runToolCall(s: SessionRun, call: CheckedToolCall, seq: number, eager?: ToolRunResult): Promise<void> {
  const { state } = s;
  const spec = s.spec!;
  const note = (text: string, extra: Partial<TranscriptEntry> = {}): void => s.ledger.toolNote(seq, call, text, extra);
  if (call.error) return note(`Error: ${call.error}`);
  // Already run by the model call (a short read-only tool, no approval needed): only the transcript is left.
  if (eager && !call.approval) {
    state.transcript.push({ seq, role: 'tool', toolCallId: call.id, tool: call.name, text: eager.preview, ok: eager.ok });
    return;
  }

  let args = call.args;
  let approvalEntry: TranscriptEntry['approval'];
  /** Told to the model with the result when the approver edited the arguments. */
  let editNote: string | undefined;
  if (call.approval) {
    const grant = grantFor(state.sessionGrants, call);
    const record = grant && patched(SESSION_GRANTS_PATCH) ? approveByGrant(s, call, seq, grant) : await awaitApproval(s, call, seq);
    approvalEntry = transcriptApproval(record);
    if (record.status !== 'approved') return note(notRunText(record, spec.approvals.group), { approval: approvalEntry });
    args = record.args;
    const edited = editedArgsNote(record);
    if (edited && patched(EDITED_ARGS_PATCH)) editNote = edited;
  }

  const tool = spec.tools.find((t) => t.name === call.name);
  if (!tool) return note(`Error: tool '${call.name}' is not part of this agent version`, approvalEntry ? { approval: approvalEntry } : {});
  // A task for another agent: a child session (child workflow), carried out by the workflow.
  if (tool.builtin === 'delegate') {
    if (patched(DELEGATION_PATCH)) return runDelegation(s, call, seq, approvalEntry ? { approval: approvalEntry } : {});
    return note(`Error: tool '${call.name}' is not part of this agent version`, approvalEntry ? { approval: approvalEntry } : {});
  }
  // Built-in waits are carried out here, by the workflow (a timer or a condition), not by an activity.
  if (tool.builtin && patched(WAITS_PATCH)) return runBuiltinWait(s, call, seq, tool.builtin, approvalEntry ? { approval: approvalEntry } : {});
  try {
    const options: LocalActivityOptions = {
      startToCloseTimeout: tool.timeoutMs,
      retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: tool.maxAttempts },
      // Cancelling the session waits until the tool has really stopped (its processes killed).
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      summary: `tool ${call.summary}${approvalEntry ? ` (approved by ${approvalEntry.approver})` : ''}`,
    };
    const toolInput = {
      sessionId: s.sessionId,
      agent: state.agent,
      ...(state.userId ? { userId: state.userId } : {}),
      seq,
      toolCallId: call.id,
      name: call.name,
      args,
      ...(editNote ? { resultNote: editNote } : {}),
    };
    // Short tools run in this worker (no round trip); long ones as regular activities, where a
    // heartbeat timeout notices a dead worker and the workflow task is not held for the duration.
    const result =
      s.localSteps && tool.runAs === 'local'
        ? await local.runTool.executeWithOptions(options, [toolInput])
        : await runTool.executeWithOptions({ ...options, heartbeatTimeout: Math.min(tool.timeoutMs, spec.heartbeatTimeoutMs) }, [toolInput]);
    state.transcript.push({
      seq,
      role: 'tool',
      toolCallId: call.id,
      tool: call.name,
      text: result.preview,
      ok: result.ok,
      ...(approvalEntry ? { approval: approvalEntry } : {}),
    });
  } catch (err) {
    const failure = activityError(err);
    if (!failure || isCancellation(err)) throw err;
    note(`${editNote ? `${editNote}\n` : ''}Error: tool '${call.name}' failed: ${failure.message}`, approvalEntry ? { approval: approvalEntry } : {});
  }
}
