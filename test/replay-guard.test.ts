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

/** Today's bundle, except that tool-call.ts's import of `request` resolves to `edited`. */
async function bundleWithEdit(request: string, edited: string): Promise<string> {
  const toolCall = path.resolve(__dirname, '..', 'workflows', 'session', 'tool-call.ts');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => {
      config.plugins = [
        ...(config.plugins ?? []),
        {
          apply(compiler: { hooks: { normalModuleFactory: { tap(name: string, fn: (f: { hooks: { beforeResolve: { tap(name: string, fn: (data: { request: string; contextInfo: { issuer?: string } }) => void): void } } }) => void): void } } }) {
            compiler.hooks.normalModuleFactory.tap('nondeterministic-edit', (factory) => {
              factory.hooks.beforeResolve.tap('nondeterministic-edit', (data) => {
                if (data.request === request && data.contextInfo.issuer === toolCall) data.request = edited;
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

test('a wait changed without a patch fails the replay of a recorded wait; today\'s code replays it', async () => {
  const { workflowId, history } = recording('wait-timer.json');
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);
  const code = await bundleWithEdit('./waits', path.resolve(__dirname, 'fixtures', 'nondeterministic', 'waits.ts'));
  await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
}, 120_000);

test('a delegation changed without a patch (a timer before the child starts) fails the replay of recorded delegations; today\'s code replays them', async () => {
  const code = await bundleWithEdit('./delegate-call', path.resolve(__dirname, 'fixtures', 'nondeterministic', 'delegate-call.ts'));
  for (const file of ['delegation-two-children-joined.json', 'delegation-approved-through-parent.json']) {
    const { workflowId, history } = recording(file);
    await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);
    await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
  }
  // A recording without a delegation replays under the edited bundle: the guard bites on what changed, not on everything.
  const { workflowId, history } = recording('wait-timer.json');
  await Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId);
}, 180_000);
