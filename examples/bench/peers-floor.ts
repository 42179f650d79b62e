/**
 * The bare Temporal floor for `npm run bench:peers`: examples/bench/floor-workflow.ts on the same dev server, in the
 * same run, with the same starts in flight and the same "parked" test (a visibility count on UserId and
 * SessionStatus) as this runtime's sessions. What a session costs above it is the runtime's own; what the floor
 * costs is the server's. Its worker runs in the bench process (the inline executor, as agent workers use): a
 * lower bound, since the runtime's worker is a process of its own.
 */
import path from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { workflowWorkerClass } from 'agent-runtime/worker';
import type { Harness } from '../../test/support/harness';
import { decideFloor, floorSession } from './floor-workflow';
import { pool, waitParked } from './peers-runtime';
import { epochMs } from './peers/protocol';

export interface TemporalFloor {
  /** Starts all, then waits until visibility counts every one as waiting. */
  startParked(ids: string[], concurrency: number): Promise<void>;
  /** Decides one waiting workflow by Update; returns ms from just before the send to the activity's entry. */
  decide(id: string, run: 'activity' | 'local'): Promise<number>;
  close(): Promise<void>;
}

const TASK_QUEUE = 'bench-floor';
/** The batch rides on the session's UserId attribute, as the runtime's sessions in the bench do. */
const UserIdKey = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);

export async function createTemporalFloor(h: Harness): Promise<TemporalFloor> {
  const started = new Map<string, number>();
  const connection = await NativeConnection.connect({ address: h.env.TEMPORAL_ADDRESS });
  const W = workflowWorkerClass('inline', { stackTraces: false });
  const worker: Worker = await W.create({
    connection,
    namespace: h.config.TEMPORAL_NAMESPACE,
    taskQueue: TASK_QUEUE,
    workflowsPath: path.join(__dirname, 'floor-workflow.ts'),
    activities: { async act(workflowId: string) { started.set(workflowId, epochMs()); } },
    maxCachedWorkflows: 250,
    maxConcurrentWorkflowTaskExecutions: 100,
  });
  const running = worker.run();
  let batches = 0;
  return {
    async startParked(ids, concurrency) {
      const batch = `floor-batch-${++batches}-${Date.now()}`;
      await pool(ids, concurrency, async (id) => {
        await h.client.workflow.start(floorSession, { taskQueue: TASK_QUEUE, workflowId: id, typedSearchAttributes: new TypedSearchAttributes([{ key: UserIdKey, value: batch }]) });
      });
      await waitParked(h.client, batch, ids.length, 'temporal floor');
    },
    async decide(id, run) {
      const sent = epochMs();
      const handle = h.client.workflow.getHandle<typeof floorSession>(id);
      await handle.executeUpdate(decideFloor, { args: [run] });
      await handle.result();
      const at = started.get(id);
      if (at === undefined) throw new Error(`temporal floor: ${id} finished without its activity`);
      return at - sent;
    },
    async close() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
