/**
 * docker-compose.yml cannot run here (no Docker engine); it is validated by the compose client
 * (`docker compose config`, or docker-compose v1) and checked against what the runtime expects.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { TEMPORAL_SERVER_VERSION } from '../runtime/stack/build';
import { SEARCH_ATTRIBUTES } from '../runtime/temporal-server';

const root = path.resolve(__dirname, '..');
const file = path.join(root, 'docker-compose.yml');

function composeClient(): string[] | undefined {
  if (spawnSync('docker', ['compose', 'version']).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  return undefined;
}

test('the compose client accepts docker-compose.yml', () => {
  const client = composeClient();
  if (!client) {
    if (process.env.CI) throw new Error('no docker compose client in CI (.ci/run installs docker-compose)');
    console.warn('skipped: no docker compose client on this machine');
    return;
  }
  const r = spawnSync(client[0], [...client.slice(1), '-f', file, 'config', '-q'], {
    encoding: 'utf8',
    env: { ...process.env, OPENAI_API_KEY: 'x' },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('the stack is production-shaped: Temporal on PostgreSQL, the Web UI, the worker built from the Dockerfile', () => {
  const compose = parse(readFileSync(file, 'utf8')) as { services: Record<string, Record<string, unknown>> };
  const { services } = compose;
  expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  expect(String(services['temporal-ui'].image)).toMatch(/^temporalio\/ui/);
  expect(services.worker.build).toBe('.');
  expect(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).toMatch(/workers\/main\.ts/);
  expect(String((services.worker.environment as Record<string, string>).AGENT_STORE_URL)).toMatch(/^postgres:\/\//);
  // Every custom search attribute the runtime upserts is registered by the setup container.
  const command = JSON.stringify(services['temporal-setup'].command);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) expect(command).toContain(`--name ${name} --type ${type}`);
});

test('compose runs the server version and config file that `npm run stack` runs', () => {
  const { services } = parse(readFileSync(file, 'utf8')) as { services: Record<string, Record<string, unknown>> };
  const version = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
  expect(services.temporal.image).toBe(`temporalio/server:${version}`);
  expect(services['temporal-schema'].image).toBe(`temporalio/admin-tools:${version}`);
  expect(services['temporal-setup'].image).toBe(`temporalio/admin-tools:${version}`);
  expect(services.temporal.volumes).toContain('./deploy/temporal:/etc/temporal/agent-runtime:ro');
  expect(JSON.stringify(services.temporal.command)).toContain('--config-file /etc/temporal/agent-runtime/config.yaml');
  expect(readFileSync(path.join(root, 'deploy', 'temporal', 'config.yaml'), 'utf8')).toMatch(/^# enable-template/);
});
