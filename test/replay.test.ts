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
import { APPROVAL_NOTIFY_PATCH, CONTINUE_NOT_FAILED_PATCH, EDITED_ARGS_PATCH, LOCAL_STEPS_PATCH, SESSION_GRANTS_PATCH, WAITS_PATCH } from '../workflows/agentSession';
import { SIGNED_APPROVALS_PATCH } from '../workflows/approval-auth';
import { DELEGATION_PATCH, FORK_PATCH, FORK_STATE_PATCH } from '../workflows/session/patches';

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

test.each([EDITED_ARGS_PATCH, SESSION_GRANTS_PATCH, CONTINUE_NOT_FAILED_PATCH])('behaviour behind %s is recorded, so later changes must keep it replaying', (patch) => {
  const needle = Buffer.from(`{"id":"${patch}`).subarray(0, 21).toString('base64');
  expect(files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle)).length).toBeGreaterThanOrEqual(1);
});

test('a run that started from an unversioned (v1) carry is recorded', () => {
  const recorded = JSON.parse(readFileSync(path.join(dir, 'carry-v1-continued.json'), 'utf8')) as {
    history: { events: Array<{ workflowExecutionStartedEventAttributes?: { input: { payloads: Array<{ data: string }> } } }> };
  };
  const input = JSON.parse(Buffer.from(recorded.history.events[0].workflowExecutionStartedEventAttributes!.input.payloads[0].data, 'base64').toString('utf8'));
  expect(input.carry).toBeDefined();
  expect(input.carry.carryVersion).toBeUndefined();
});

test('sessions started with their search attributes set by the client are recorded, next to ones started without', () => {
  const startAttributes = (f: string): string[] => {
    const recorded = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as {
      history: { events: Array<{ workflowExecutionStartedEventAttributes?: { searchAttributes?: { indexedFields?: Record<string, unknown> } } }> };
    };
    return Object.keys(recorded.history.events[0].workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields ?? {});
  };
  const withAttributes = files.filter((f) => startAttributes(f).includes('SessionStatus'));
  expect(withAttributes.length).toBeGreaterThanOrEqual(10);
  expect(files.length - withAttributes.length).toBeGreaterThanOrEqual(10);
});

test('sessions with authenticated approvals (signed-approvals-v1) are recorded next to older ones', () => {
  const needle = Buffer.from(`{"id":"${SIGNED_APPROVALS_PATCH}`).subarray(0, 21).toString('base64');
  const marked = files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle));
  expect(marked.length).toBeGreaterThanOrEqual(10);
  expect(marked).toEqual(expect.arrayContaining(['signed-approval-refused-then-approved.json', 'group-approval-escalated-decided.json']));
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

test('forks and resumes (fork-v1) are recorded: after a tool result, of a fork with a task, of a step waiting on an approval, after a 401', () => {
  // The whole quoted id is 15 bytes (a multiple of 3), so its base64 is a stable prefix of the marker's payload.
  const needle = Buffer.from(`{"id":"${FORK_PATCH}"`).toString('base64');
  expect(Buffer.from(`{"id":"${FORK_PATCH}"`).length % 3).toBe(0);
  const marked = files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle));
  expect(marked).toEqual(
    expect.arrayContaining(['fork-at-tool-result.json', 'fork-of-fork-with-task.json', 'fork-waiting-approval-approved.json', 'resume-after-401.json']),
  );
});

test("forks that carry their parent's grants and top-ups and restore its workspace snapshot (fork-state-v1) are recorded", () => {
  // The whole quoted id is 21 bytes (a multiple of 3), so its base64 is a stable prefix of the marker's payload.
  expect(Buffer.from(`{"id":"${FORK_STATE_PATCH}"`).length % 3).toBe(0);
  const needle = Buffer.from(`{"id":"${FORK_STATE_PATCH}"`).toString('base64');
  const marked = files.filter((f) => readFileSync(path.join(dir, f), 'utf8').includes(needle));
  expect(marked).toEqual(['fork-carries-grant.json', 'fork-carries-top-up.json', 'fork-restores-workspace.json']);
  // Forks recorded before the patch start without the parent's grants and top-ups, and replay so.
  expect(marked).not.toContain('fork-at-tool-result.json');
});

test.each([
  ['wait-timer.json', WAITS_PATCH],
  ['wait-for-event-received.json', WAITS_PATCH],
  ['wait-for-event-timed-out.json', WAITS_PATCH],
  ['continued-as-new-not-failed-first-run.json', CONTINUE_NOT_FAILED_PATCH],
])('%s carries the %s marker (built-in waits and continue-as-new are recorded under their patches)', (file, patch) => {
  const needle = Buffer.from(`{"id":"${patch}`).subarray(0, 21).toString('base64');
  expect(readFileSync(path.join(dir, file), 'utf8')).toContain(needle);
});

test('a session started by a schedule (scheduleAgent) is recorded: its start event names the schedule', () => {
  const recorded = JSON.parse(readFileSync(path.join(dir, 'scheduled-run.json'), 'utf8')) as {
    workflowId: string;
    history: { events: Array<{ workflowExecutionStartedEventAttributes?: { searchAttributes?: { indexedFields?: Record<string, unknown> } } }> };
  };
  expect(Object.keys(recorded.history.events[0].workflowExecutionStartedEventAttributes?.searchAttributes?.indexedFields ?? {})).toContain('TemporalScheduledById');
  expect(recorded.workflowId).toMatch(/^rec-schedule-[a-z0-9]+-\d{4}-\d{2}-\d{2}T/);
});

test('under continue-not-failed-v1 the closing run is not marked failed; before it, it was', () => {
  const statuses = (file: string): string[] => {
    const recorded = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as {
      history: { events: Array<{ upsertWorkflowSearchAttributesEventAttributes?: { searchAttributes: { indexedFields: Record<string, { data: string }> } } }> };
    };
    return recorded.history.events
      .map((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes.indexedFields.SessionStatus?.data)
      .filter((d): d is string => d !== undefined)
      .map((d) => JSON.parse(Buffer.from(d, 'base64').toString('utf8')) as string);
  };
  expect(statuses('signed-approvals-continued-as-new-first-run.json')).toContain('failed');
  expect(statuses('continued-as-new-not-failed-first-run.json')).not.toContain('failed');
});

test('sub-agents (delegation-v1) are recorded: parents and children, approval through the parent, parallel children, failure, cancel, end, roll-up', () => {
  // The whole quoted id is 21 bytes (a multiple of 3), so its base64 is a stable prefix of the marker's payload.
  expect(Buffer.from(`{"id":"${DELEGATION_PATCH}"`).length % 3).toBe(0);
  const needle = Buffer.from(`{"id":"${DELEGATION_PATCH}"`).toString('base64');
  const names = [
    'delegation-approved-through-parent.json',
    'delegation-approved-through-parent-child.json',
    'delegation-two-children-joined.json',
    'delegation-child-failed.json',
    'delegation-parent-cancelled.json',
    'delegation-parent-cancelled-child.json',
    'delegation-parent-ended.json',
    'delegation-budget-rollup.json',
  ];
  expect(files).toEqual(expect.arrayContaining(names));
  for (const f of names) expect(readFileSync(path.join(dir, f), 'utf8')).toContain(needle);
  type Event = Record<string, unknown>;
  const events = (f: string): Event[] => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as { history: { events: Event[] } }).history.events;
  const count = (f: string, attr: string): number => events(f).filter((e) => e[attr] !== undefined && e[attr] !== null).length;
  expect(count('delegation-two-children-joined.json', 'startChildWorkflowExecutionInitiatedEventAttributes')).toBe(2);
  expect(count('delegation-two-children-joined.json', 'childWorkflowExecutionCompletedEventAttributes')).toBe(2);
  expect(count('delegation-child-failed.json', 'childWorkflowExecutionFailedEventAttributes')).toBe(1);
  expect(count('delegation-parent-cancelled.json', 'requestCancelExternalWorkflowExecutionInitiatedEventAttributes')).toBe(1);
  expect(count('delegation-parent-ended.json', 'childWorkflowExecutionCanceledEventAttributes')).toBe(1);
  // Through the parent: Updates accepted there, forwarded to the child by signal; the child reports back by signal.
  expect(count('delegation-approved-through-parent.json', 'workflowExecutionUpdateAcceptedEventAttributes')).toBe(2);
  expect(count('delegation-approved-through-parent.json', 'signalExternalWorkflowExecutionInitiatedEventAttributes')).toBe(2);
  expect(count('delegation-approved-through-parent-child.json', 'signalExternalWorkflowExecutionInitiatedEventAttributes')).toBeGreaterThanOrEqual(3);
});
