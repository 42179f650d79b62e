/**
 * The replay suite is a real guard: the recorded waits replay under today's code (test/replay.test.ts),
 * and a deliberately non-deterministic edit of the wait (two timers instead of one, no patch) makes the
 * same recording fail to replay. No server: the histories are replayed in the worker.
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

test('a wait changed without a patch fails the replay of a recorded wait; today\'s code replays it', async () => {
  const { workflowId, history } = recording('wait-timer.json');
  await Worker.runReplayHistory({ workflowBundle: { codePath: WORKFLOW_BUNDLE } }, history, workflowId);

  const toolCall = path.resolve(__dirname, '..', 'workflows', 'session', 'tool-call.ts');
  const edited = path.resolve(__dirname, 'fixtures', 'nondeterministic', 'waits.ts');
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
    // tool-call.ts (where the wait runs) imports the edited module; the rest of the bundle is today's code.
    webpackConfigHook: (config) => {
      config.plugins = [
        ...(config.plugins ?? []),
        {
          apply(compiler: { hooks: { normalModuleFactory: { tap(name: string, fn: (f: { hooks: { beforeResolve: { tap(name: string, fn: (data: { request: string; contextInfo: { issuer?: string } }) => void): void } } }) => void): void } } }) {
            compiler.hooks.normalModuleFactory.tap('nondeterministic-waits', (factory) => {
              factory.hooks.beforeResolve.tap('nondeterministic-waits', (data) => {
                if (data.request === './waits' && data.contextInfo.issuer === toolCall) data.request = edited;
              });
            });
          },
        },
      ];
      return config;
    },
  });
  await expect(Worker.runReplayHistory({ workflowBundle: { code } }, history, workflowId)).rejects.toThrow(/[Nn]ondetermin/);
}, 120_000);
