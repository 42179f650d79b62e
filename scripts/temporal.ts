/** `npm run temporal`: find or start the embedded Temporal dev server, print where it is, and leave it running. */
import { ensureTemporal } from '../runtime/temporal-server';

async function run(): Promise<void> {
  const server = await ensureTemporal({ verbose: true });
  console.log(`Temporal server: ${server.address}${server.started ? ` (started, pid ${server.pid})` : ' (already running)'}`);
  if (server.uiUrl) console.log(`Web UI: ${server.uiUrl}`);
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
