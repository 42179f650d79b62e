/** `npm run http`: the HTTP interface on HTTP_PORT (default 8080), for services that are not in TypeScript. */
import { DEMO_AGENT_NAMES } from '../agents';
import { loadDemoConfig } from '../runtime/config';
import { buildHttpApi } from './http-api';
import { connectClient } from './sessions';

async function run(): Promise<void> {
  const config = loadDemoConfig();
  // The agents the workers register, so an unknown one is refused before a session starts.
  // AGENTS=a,b overrides the demo agents; AGENTS=* turns the check off (workers with other agents).
  const listed = process.env.AGENTS?.split(',').map((a) => a.trim()).filter(Boolean);
  const agents = listed?.includes('*') ? undefined : (listed ?? DEMO_AGENT_NAMES);
  const app = buildHttpApi(await connectClient(config), config, agents ? { agents } : {});
  const port = Number(process.env.HTTP_PORT ?? 8080);
  await app.listen({ port, host: process.env.HTTP_HOST ?? '127.0.0.1' });
  console.log(`agent-runtime HTTP API on http://${process.env.HTTP_HOST ?? '127.0.0.1'}:${port}`);
}

run().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
