/** Bundles the workflow code once for all suites (each worker would otherwise bundle it again). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_BUNDLE } from './paths';

export default async function globalSetup(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('WARN') });
  mkdirSync(path.dirname(WORKFLOW_BUNDLE), { recursive: true });
  writeFileSync(WORKFLOW_BUNDLE, code);
}
