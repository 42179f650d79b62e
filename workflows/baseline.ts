/**
 * Bench baseline: the least a Temporal workflow can do per step (two no-op activities in sequence),
 * measured in the same run as agent sessions so the runtime's own overhead can be stated as a ratio.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../activities';

type Activities = ReturnType<typeof activities.createActivities>;
const { noop } = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds' });

export async function benchBaseline(steps: number): Promise<number> {
  for (let i = 0; i < steps; i++) {
    await noop(i);
    await noop(i);
  }
  return steps;
}
