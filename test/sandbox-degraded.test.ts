/**
 * Missing sandbox protections in real sessions (class 5 of the trust-boundary issue): a worker whose
 * host lacks a protection refuses sandboxed tools at once (not retried), and a worker whose operator
 * allowed the degraded mode flags every session with it, as SANDBOX=none is flagged.
 *
 * The missing protection is real: the worker is pointed (AGENT_SANDBOX_CGROUP_ROOT) at a cgroup2 mount of
 * this host, whose v2 hierarchy offers neither the memory nor the pids controller (both are bound to v1).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sessionState, startSession } from '../client/sessions';
import { createHarness, type Harness } from './support/harness';

let mnt = '';
beforeAll(() => {
  mnt = fs.mkdtempSync('/tmp/agent-sbx-cg2-e2e-');
  execFileSync('mount', ['-t', 'cgroup2', 'none', mnt]);
});
afterAll(() => {
  // The workers' run cgroups are gone with them; remove their (empty) parent, then the mount.
  try {
    fs.rmdirSync(path.join(mnt, 'agent-sandbox'));
  } catch {
    // not created, or still in use by another test worker's runs
  }
  execFileSync('umount', [mnt]);
  fs.rmdirSync(mnt);
});

const shellOnce = (h: Harness): void =>
  h.model.setScript((req) => (req.messages.some((m) => m.role === 'tool') ? { content: 'done' } : { toolCalls: [{ name: 'shell', arguments: { command: 'echo ran' } }] }));

describe('a protection is missing and not allowed', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness([], { AGENT_SANDBOX_CGROUP_ROOT: mnt });
  });
  afterAll(async () => h?.close());

  test('sandboxed tools are refused at once, naming the protection and the opt-out', async () => {
    await h.spawnWorker();
    shellOnce(h);
    const s = await startSession(h.client, { agent: 'sandboxed', task: 'run something' }, h.config);
    await s.handle.result();
    const st = await sessionState(h.client, s.sessionId);
    expect(st.sandboxMode).toBe('bubblewrap');
    const tool = st.transcript.find((e) => e.role === 'tool')!;
    expect(tool.ok).toBe(false);
    expect(tool.text).toMatch(/sandbox unavailable: a sandbox protection is missing: no per-run memory\/pids limits.*SANDBOX_ALLOW_DEGRADED=cgroups/s);
    const events = (await s.handle.fetchHistory()).events ?? [];
    const failure = events.find((e) => e.activityTaskFailedEventAttributes)!;
    const started = events.find((e) => Number(e.eventId) === Number(failure.activityTaskFailedEventAttributes!.startedEventId));
    expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1); // not retried
  });
});

describe('SANDBOX_ALLOW_DEGRADED=cgroups', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness([], { AGENT_SANDBOX_CGROUP_ROOT: mnt, SANDBOX_ALLOW_DEGRADED: 'cgroups' });
  });
  afterAll(async () => h?.close());

  test('the tools run, and every session shows the degraded mode in its state and search attributes', async () => {
    await h.spawnWorker();
    shellOnce(h);
    const s = await startSession(h.client, { agent: 'sandboxed', task: 'run something' }, h.config);
    await s.handle.result();
    const st = await sessionState(h.client, s.sessionId);
    expect(st.sandboxMode).toBe('bubblewrap-degraded(no-cgroups)');
    expect(st.transcript.find((e) => e.role === 'tool')?.text).toContain('ran');
    expect((await s.handle.describe()).searchAttributes.SandboxMode).toEqual(['bubblewrap-degraded(no-cgroups)']);
  });
});
