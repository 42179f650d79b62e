/**
 * The least a session-shaped Temporal workflow can do (examples/bench/peers-floor.ts): publish that it waits,
 * wait for a decision by Update, then start one activity, regular or local. No model, no store, no state.
 */
import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The session's own status attribute (registered on the server by the runtime), so the floor is counted the same way. */
const SessionStatusKey = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);

export type FloorActivities = { act(workflowId: string): Promise<void> };
const { act } = proxyActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });
const local = proxyLocalActivities<FloorActivities>({ startToCloseTimeout: '1 minute' });

export const decideFloor = defineUpdate<string, ['activity' | 'local']>('decideFloor');

export async function floorSession(): Promise<void> {
  let decision: 'activity' | 'local' | undefined;
  setHandler(decideFloor, (d) => {
    decision = d;
    return 'ok';
  });
  upsertSearchAttributes([{ key: SessionStatusKey, value: 'awaiting_approval' }]);
  await condition(() => decision !== undefined);
  if (decision === 'local') await local.act(workflowInfo().workflowId);
  else await act(workflowInfo().workflowId);
}
