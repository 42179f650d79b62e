/** `npm run http`: the HTTP interface on HTTP_PORT (default 8080), for services that are not in TypeScript. */
import { DEMO_AGENT_NAMES } from '../examples/agents';
import { loadDemoConfig } from '../runtime/config';
import { openSessionStore } from '../runtime/store';
import { buildHttpApi } from './http-api';
import { authFromEnv } from './http-auth';
import { listenHttpApi, portFromEnv } from './http-listen';
import { connectClient } from './sessions';

async function run(): Promise<void> {
  const config = loadDemoConfig();
  // The agents the workers register, so an unknown one is refused before a session starts.
  // AGENTS=a,b overrides the demo agents; AGENTS=* turns the check off (workers with other agents).
  const listed = process.env.AGENTS?.split(',').map((a) => a.trim()).filter(Boolean);
  const agents = listed?.includes('*') ? undefined : (listed ?? DEMO_AGENT_NAMES);
  const store = openSessionStore(config.AGENT_STORE_URL);
  const app = await buildHttpApi(await connectClient(config), config, { auth: authFromEnv(), store, ...(agents ? { agents } : {}) });
  app.addHook('onClose', () => store.close());
  const url = await listenHttpApi(app, portFromEnv('HTTP_PORT', 8080)!);
  console.log(`agent-runtime HTTP API on ${url}  (docs: ${url}/docs, inbox: ${url}/inbox)`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void app.close().then(() => process.exit(0)));
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
