/**
 * The replay suite is a real guard: the recorded waits and delegations replay under today's code
 * (test/replay.test.ts), and a deliberately non-deterministic edit (a wait in two timers instead of one; a
 * child started after a timer the recording never had; no patch either time) makes the same recording fail
 * to replay. No server: the histories are replayed in the worker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE } from './support/paths';

const recording = (file: string) => {
  const recorded = JSON.parse(readFileSync(path.join(__dirname, 'replay', 'histories', file), 'utf8')) as { workflowId: string; history: object };
  return { workflowId: recorded.workflowId, history: temporal.api.history.v1.History.fromObject(recorded.history) };
};

/** Today's workflow bundle, except that `issuer`'s import of `request` resolves to `replacement`. */
async function bundleWithSwap(issuer: string, request: string, replacement: string): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => {
      config.plugins = [
        ...(config.plugins ?? []),
        {
          apply(compiler: { hooks: { normalModuleFactory: { tap(name: string, fn: (f: { hooks: { beforeResolve: { tap(name: string, fn: (data: { request: string; contextInfo: { issuer?: string } }) => void): void } } }) => void): void } } }) {
            compiler.hooks.normalModuleFactory.tap('nondeterministic-swap', (factory) => {
              factory.hooks.beforeResolve.tap('nondeterministic-swap', (data) => {
                if (data.request === request && data.contextInfo.issuer === issuer) data.request = replacement;
              });
            });
          },
        },
      ];
      return config;
    },
  });
  return code;
}

const session = (file: string): string => path.resolve(__dirname, '..', 'workflows', 'session', file);
const fixture = (file: string): string => path.resolve(__dirname, 'fixtures', 'nondeterministic', file);

test('a wait changed without a patch fails the replay of a recorded wait; today\'s code replays it', async () => {
  const { workflowId, history } = recording('wait-timer.json');
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);
  // tool-call.ts (where the wait runs) imports the edited module; the rest of the bundle is today's code.
  const code = await bundleWithSwap(session('tool-call.ts'), './waits', fixture('waits.ts'));
  await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
}, 120_000);

test('a step that ignores the tool results the model call produced fails the replay of a recorded eager step', async () => {
  const { workflowId, history } = recording('eager-tools-parallel.json');
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);
  const code = await bundleWithSwap(session('loop.ts'), './tool-call', fixture('tool-call.ts'));
  await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
}, 120_000);

test('a delegation changed without a patch (a timer before the child starts) fails the replay of recorded delegations; today\'s code replays them', async () => {
  const code = await bundleWithSwap(session('tool-call.ts'), './delegate-call', fixture('delegate-call.ts'));
  for (const file of ['delegation-two-children-joined.json', 'delegation-approved-through-parent.json']) {
    const { workflowId, history } = recording(file);
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);
    await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
  }
  // A recording without a delegation replays under the edited bundle: the guard bites on what changed, not on everything.
  const { workflowId, history } = recording('wait-timer.json');
  await Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId);
}, 180_000);
