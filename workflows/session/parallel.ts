/**
 * Runs the tasks with at most `limit` in flight, in order. Deterministic in a workflow: it starts work
 * only in response to completions, never on a clock. Pure: unit-tested.
 */
export async function inParallel(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
}
