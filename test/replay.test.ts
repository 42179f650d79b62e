/**
 * Today's workflow code must replay every recorded session history deterministically. A failure here
 * means the change would break sessions that are running now: guard it with patched() or ship a new
 * workflow type (see README, "Changing workflow code").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE } from './support/paths';

const dir = path.join(__dirname, 'replay', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('there are recorded histories to replay', () => {
  expect(files.length).toBeGreaterThanOrEqual(10);
});

test.each(files)('replays %s', async (file) => {
  const recorded = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { workflowId: string; history: object };
  const history = temporal.api.history.v1.History.fromObject(recorded.history);
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, recorded.workflowId);
});
