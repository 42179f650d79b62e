/** Runs one bench module on its own (`npx tsx examples/bench/<name>.ts`): a fresh dev server and worker around `run`. */
import { createHarness, type Harness } from '../../test/support/harness';
import { writeWorkflowBundle } from '../../test/support/paths';

export function runStandalone(run: (h: Harness) => Promise<void>): void {
  (async () => {
    await writeWorkflowBundle();
    const h = await createHarness();
    await h.startWorker();
    try {
      await run(h);
    } finally {
      await h.close();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
