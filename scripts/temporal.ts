/**
 * `npm run temporal`: find or start the embedded Temporal dev server, print where it is, and leave it running.
 * `--install-only`: only make sure a Temporal CLI is available (installing the pinned one if needed).
 */
import { ensureTemporal, findTemporalCli } from '../runtime/temporal-server';

async function run(): Promise<void> {
  if (process.argv.includes('--install-only')) {
    console.log(`Temporal CLI: ${findTemporalCli({ verbose: true })}`);
    return;
  }
  const server = await ensureTemporal({ verbose: true });
  console.log(`Temporal server: ${server.address}${server.started ? ` (started, pid ${server.pid})` : ' (already running)'}`);
  if (server.uiUrl) console.log(`Web UI: ${server.uiUrl}`);
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
