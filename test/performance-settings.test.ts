/**
 * Settings chosen for speed (examples/bench/RESULTS.md) that must not change behaviour:
 * - agent workers run workflow activations inline (workers/workflow-executor.ts) by default; the SDK's threaded
 *   executor stays available. Both must run the same session to the same history shape, approvals included.
 * - the embedded dev server keeps its SQLite database in WAL mode with a full sync per commit, and gives each task
 *   queue one partition.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_DYNAMIC_CONFIG, DEFAULT_SQLITE_PRAGMAS, dynamicConfigFromEnv, sqlitePragmasFromEnv, startDevServer } from '../runtime/temporal-server';
import { AgentNameKey, SandboxModeKey, SessionStatusKey, UserIdKey } from '../workflows/search-attributes';
import { applicationScript } from '../examples/agents/application/script';
import { decideApproval, startSession, waitForState } from '../client/sessions';
import { loadConfig } from '../runtime/config';
import { workflowWorkerClass } from '../workers/workflow-executor';
import { activityCalls } from './support/history';
import { createHarness, freePort, type Harness } from './support/harness';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

test('configuration: inline is the default; a wrong value names the setting and the choices', () => {
  expect(loadConfig({}).WORKFLOW_EXECUTOR).toBe('inline');
  expect(loadConfig({}).WORKFLOW_STACK_TRACES).toBe(false);
  expect(() => loadConfig({ WORKFLOW_EXECUTOR: 'fast' })).toThrow(/WORKFLOW_EXECUTOR.*inline.*threaded/s);
});

test('the inline executor is a Worker subclass (not a fallback to the SDK default) and threaded is the SDK Worker', () => {
  const warnings: string[] = [];
  const inline = workflowWorkerClass('inline', { stackTraces: false, warn: (m) => warnings.push(m) });
  expect(inline).not.toBe(Worker);
  expect(Object.getPrototypeOf(inline)).toBe(Worker);
  expect(warnings).toEqual([]);
  expect(workflowWorkerClass('threaded', { stackTraces: false })).toBe(Worker);
});

async function approvedSession(executor: 'inline' | 'threaded'): Promise<string[]> {
  h.config.WORKFLOW_EXECUTOR = executor;
  const w = await h.startWorker();
  try {
    h.model.setScript(applicationScript);
    const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.' }, h.config);
    const st = await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
    await decideApproval(h.client, s.sessionId, { approvalId: st.pendingApprovals[0].approvalId, decision: 'approve', approver: 'ops' });
    const result = await s.handle.result();
    expect(result.status).toBe('completed');
    expect(h.sent(s.sessionId)).toHaveLength(1);
    return activityCalls(await s.handle.fetchHistory()).map((c) => `${c.type}${c.local ? ' (local)' : ''}`);
  } finally {
    await w.shutdown();
  }
}

test('a session with an approval runs to the same history on either executor', async () => {
  const inline = await approvedSession('inline');
  const threaded = await approvedSession('threaded');
  expect(inline.length).toBeGreaterThan(3);
  expect(threaded).toEqual(inline);
});

test("the dev server's database is in WAL mode (and a session's data is in it)", async () => {
  const db = new Database(path.join(h.dir, 'temporal.db'), { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    // The sessions of the test above were persisted through this file (WAL readers see committed data).
    const { n } = db.prepare('SELECT count(*) AS n FROM executions').get() as { n: number };
    expect(n).toBeGreaterThanOrEqual(2);
  } finally {
    db.close();
  }
});

test('TEMPORAL_SQLITE_PRAGMAS: default, override, and a typo named with the setting', () => {
  expect(sqlitePragmasFromEnv(undefined)).toEqual(DEFAULT_SQLITE_PRAGMAS);
  expect(DEFAULT_SQLITE_PRAGMAS).toEqual(['journal_mode=wal', 'synchronous=full']);
  expect(sqlitePragmasFromEnv('journal_mode=delete, synchronous=full')).toEqual(['journal_mode=delete', 'synchronous=full']);
  expect(() => sqlitePragmasFromEnv('cache_size=1000')).toThrow(/TEMPORAL_SQLITE_PRAGMAS.*cache_size/);
});

test('TEMPORAL_DYNAMIC_CONFIG: one partition per task queue by default, overrides and additions, a bad entry named', () => {
  expect(dynamicConfigFromEnv(undefined)).toEqual(DEFAULT_DYNAMIC_CONFIG);
  expect(DEFAULT_DYNAMIC_CONFIG).toEqual({ 'history.transferProcessorMaxPollRPS': 1000, 'matching.numTaskqueueReadPartitions': 1, 'matching.numTaskqueueWritePartitions': 1 });
  expect(dynamicConfigFromEnv('matching.numTaskqueueReadPartitions=4, matching.stickyPollerUnavailableWindow=2s, system.enableEagerWorkflowStart=true')).toEqual({
    'history.transferProcessorMaxPollRPS': 1000,
    'matching.numTaskqueueReadPartitions': 4,
    'matching.numTaskqueueWritePartitions': 1,
    'matching.stickyPollerUnavailableWindow': '2s',
    'system.enableEagerWorkflowStart': true,
  });
  expect(() => dynamicConfigFromEnv('partitions')).toThrow(/TEMPORAL_DYNAMIC_CONFIG.*'partitions'/);
  expect(() => dynamicConfigFromEnv('matching.x={"a":1}')).toThrow(/TEMPORAL_DYNAMIC_CONFIG.*matching\.x/);
});

test("the dev server's task queues have one partition (the server's own answer)", async () => {
  const { activityTaskQueuePartitions, workflowTaskQueuePartitions } = await h.client.workflowService.listTaskQueuePartitions({
    namespace: h.client.options.namespace,
    taskQueue: { name: h.config.TASK_QUEUE! },
  });
  expect(workflowTaskQueuePartitions).toHaveLength(1);
  expect(activityTaskQueuePartitions).toHaveLength(1);
});

test('sessions start with their first search attributes (no upsert of them), and without them on a server that lacks them', async () => {
  h.config.WORKFLOW_EXECUTOR = 'inline';
  const w = await h.startWorker();
  try {
    h.model.setScript(applicationScript);
    const s = await startSession(h.client, { agent: 'application-processor', task: 'Process applicant A-1001.', userId: 'u-7' }, h.config);
    await waitForState(h.client, s.sessionId, (x) => x.status === 'awaiting_approval');
    const d = await s.handle.describe();
    expect(d.typedSearchAttributes.get(SessionStatusKey)).toBe('awaiting_approval');
    expect(d.typedSearchAttributes.get(AgentNameKey)).toBe('application-processor');
    expect(d.typedSearchAttributes.get(UserIdKey)).toBe('u-7');
    expect(d.typedSearchAttributes.get(SandboxModeKey)).toBeTruthy();
    const history = await s.handle.fetchHistory();
    const started = history.events![0].workflowExecutionStartedEventAttributes!;
    expect(Object.keys(started.searchAttributes?.indexedFields ?? {}).sort()).toEqual(['AgentName', 'PendingApprovals', 'SessionStatus', 'UserId']);
    // One upsert of ours before parking (status, count, sandbox mode), not one at start and one at the pause
    // (the SDK's own TemporalChangeVersion upsert, which records patches, is not ours to save).
    const upserts = history.events!.filter((e) => {
      const fields = Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {});
      return fields.length > 0 && !(fields.length === 1 && fields[0] === 'TemporalChangeVersion');
    });
    expect(upserts).toHaveLength(1);
    expect(Object.keys(upserts[0].upsertWorkflowSearchAttributesEventAttributes!.searchAttributes!.indexedFields!)).not.toContain('AgentName');
  } finally {
    await w.shutdown();
  }

  // A server without the attributes registered: the start is retried without them, and the session runs.
  const port = await freePort();
  const bare = await startDevServer({ port, uiPort: null, dbFile: path.join(h.dir, 'bare.db'), searchAttributes: false });
  const connection = await Connection.connect({ address: bare.address });
  try {
    const client = new Client({ connection });
    const s = await startSession(client, { agent: 'calculator', task: 'noop' }, { ...h.config, TASK_QUEUE: 'nobody-polls-this' });
    const started = (await s.handle.fetchHistory()).events![0].workflowExecutionStartedEventAttributes!;
    expect(started.searchAttributes?.indexedFields ?? {}).toEqual({});
    const again = await startSession(client, { agent: 'calculator', task: 'noop' }, { ...h.config, TASK_QUEUE: 'nobody-polls-this' });
    expect(again.sessionId).not.toBe(s.sessionId);
  } finally {
    await connection.close();
    await bare.stop();
  }
});
