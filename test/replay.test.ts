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
import { APPROVAL_NOTIFY_PATCH, LOCAL_STEPS_PATCH } from '../workflows/agentSession';

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

test('sessions with approval notifications are recorded: the notify- histories carry the patch and the activity', () => {
  const needle = Buffer.from(`{"id":"${APPROVAL_NOTIFY_PATCH}`).subarray(0, 21).toString('base64');
  const notify = files.filter((f) => f.startsWith('notify-'));
  expect(notify.length).toBeGreaterThanOrEqual(10);
  // Only sessions that asked for an approval reach the patch (chat and research recordings do not).
  const asked = notify.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes('"name":"notifyApproval"'));
  expect(asked.length).toBeGreaterThanOrEqual(4);
  for (const f of asked) expect(readFileSync(path.join(dir, f), 'utf8')).toContain(needle);
  const approved = readFileSync(path.join(dir, 'notify-application-approved.json'), 'utf8');
  expect(approved).toContain('"name":"notifyApproval"');
  // Recordings from before the patch never schedule it (replay of those must not expect it).
  expect(readFileSync(path.join(dir, 'local-steps-application-approved.json'), 'utf8')).not.toContain('notifyApproval');
});
