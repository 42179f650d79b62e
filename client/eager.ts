/** Eager workflow start: when a session start can skip the trip through matching. */
import { InternalConnectionLikeSymbol, type Client, type InternalConnectionLike } from '@temporalio/client';

/**
 * Whether starts through this client can be eager: its connection is a worker's NativeConnection (e.g.
 * `AgentWorker.client`, or `new Client({ connection: nativeConnection })` next to an AgentRuntimePlugin worker).
 * The server then returns the session's first workflow task in the start response to a worker in this
 * process, when one polls the task queue and has a free slot, instead of queueing it in matching,
 * which spares the server a dispatch and a task-started write. How much that saves varies (README, "Measured
 * cost": level with an ordinary start in `npm run bench:peers`). Otherwise the start is an ordinary one; the
 * durability is the same (the start and the task are one persisted write).
 */
export function canStartEagerly(client: Client): boolean {
  return (client.connection as InternalConnectionLike)[InternalConnectionLikeSymbol]?.supportsEagerStart === true;
}
