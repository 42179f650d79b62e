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
import { LOCAL_STEPS_PATCH } from '../workflows/agentSession';
import { SIGNED_APPROVALS_PATCH } from '../workflows/approval-auth';

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

test('both step shapes are recorded: sessions from before the local-steps patch and after it', () => {
  // The patch marker's payload starts with {"id":"<patch>: its base64 prefix is stable (21 bytes = 28 characters).
  const needle = Buffer.from(`{"id":"${LOCAL_STEPS_PATCH}`).subarray(0, 21).toString('base64');
  const marked = files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle));
  expect(marked.length).toBeGreaterThanOrEqual(10);
  expect(files.length - marked.length).toBeGreaterThanOrEqual(10);
});

test('sessions with authenticated approvals (signed-approvals-v1) are recorded next to older ones', () => {
  const needle = Buffer.from(`{"id":"${SIGNED_APPROVALS_PATCH}`).subarray(0, 21).toString('base64');
  const marked = files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle));
  expect(marked.length).toBeGreaterThanOrEqual(10);
  expect(marked).toEqual(expect.arrayContaining(['signed-approval-refused-then-approved.json', 'group-approval-escalated-decided.json']));
});
