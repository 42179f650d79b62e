/**
 * AgentRuntimePlugin on a worker the test builds itself (Worker.create + plugins), with OpenTelemetry
 * spans captured by an in-memory exporter; the start-time secret check; the task queue being required.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { NativeConnection, Worker } from '@temporalio/worker';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { defineAgent, defineTool } from '../runtime/agent';
import { AgentRuntimePlugin, MODEL_SPAN, TOOL_SPAN, type AgentRuntimePluginOptions } from '../workers';
import { openSessionStore } from '../runtime/store';
import { createSessionClient, startSession } from '../client';
import { loadConfig, requireTaskQueue } from '../runtime/config';
import { clientConnectionOptions, nativeConnectionOptions } from '../runtime/connection';
import { createHarness, type Harness } from './support/harness';
import { WORKFLOW_BUNDLE } from './support/paths';

const adder = defineAgent({
  name: 'plugin-adder',
  instructions: 'Add numbers.',
  tools: [
    defineTool({
      name: 'add',
      description: 'Add two numbers.',
      input: z.object({ a: z.number(), b: z.number() }),
      run: ({ a, b }) => ({ sum: a + b }),
    }),
  ],
});

const keyed = defineAgent({
  name: 'payments',
  instructions: 'Pay.',
  tools: [
    defineTool({
      name: 'charge',
      description: 'Charge a card.',
      input: z.object({ cents: z.number().int() }),
      secrets: ['PLUGIN_TEST_PSP_KEY'],
      run: () => ({ ok: true }),
    }),
  ],
});

describe('without a server', () => {
  const store = openSessionStore(`sqlite:${path.join(mkdtempSync(path.join(os.tmpdir(), 'plugin-test-')), 's.sqlite')}`);
  afterAll(() => store.close());
  const base = { store, model: { baseURL: 'http://127.0.0.1:9/v1', defaultModel: 'gpt-4.1-mini' } };

  test('a worker whose tool declares a secret that does not resolve refuses to start, naming agent, tool, secret and the fix', () => {
    delete process.env.AGENT_SECRET_PLUGIN_TEST_PSP_KEY;
    expect(() => new AgentRuntimePlugin({ ...base, agents: [adder, keyed], secrets: () => ({}) })).toThrow(
      /agent 'payments', tool 'charge': secret 'PLUGIN_TEST_PSP_KEY' is not configured \(set AGENT_SECRET_PLUGIN_TEST_PSP_KEY .*AGENT_SECRETS_FILE/,
    );
    // The default resolver (environment, then secrets file) finds it once it is set.
    process.env.AGENT_SECRET_PLUGIN_TEST_PSP_KEY = 'psp-key-for-test';
    try {
      expect(new AgentRuntimePlugin({ ...base, agents: [adder, keyed] }).agents.map((a) => a.name)).toEqual(['plugin-adder', 'payments']);
    } finally {
      delete process.env.AGENT_SECRET_PLUGIN_TEST_PSP_KEY;
    }
  });

  test('connection settings come from the envconfig profile and TEMPORAL_* variables (TLS, API key, namespace)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plugin-envconfig-'));
    const file = path.join(dir, 'temporal.toml');
    writeFileSync(file, '[profile.cloud]\naddress = "my-ns.a1b2c.tmprl.cloud:7233"\nnamespace = "my-ns.a1b2c"\napi_key = "key-from-profile"\n');
    const env = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' };
    const config = loadConfig(env);
    expect({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE }).toEqual({ address: 'my-ns.a1b2c.tmprl.cloud:7233', namespace: 'my-ns.a1b2c' });
    // An API key turns TLS on (Temporal Cloud); workers and clients get the same settings.
    expect(nativeConnectionOptions(config, env)).toMatchObject({ address: 'my-ns.a1b2c.tmprl.cloud:7233', apiKey: 'key-from-profile', tls: true });
    expect(clientConnectionOptions(config, env)).toMatchObject({ address: 'my-ns.a1b2c.tmprl.cloud:7233', apiKey: 'key-from-profile', tls: true });
    // The variables win over the profile, and a plain local address stays plain.
    const local = { ...env, TEMPORAL_ADDRESS: '127.0.0.1:7233', TEMPORAL_NAMESPACE: 'default', TEMPORAL_API_KEY: '', TEMPORAL_TLS: 'false' };
    const localConfig = loadConfig(local);
    expect(localConfig.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(clientConnectionOptions(localConfig, local).tls).toBeFalsy();
    writeFileSync(file, '[profile.cloud\naddress = 1');
    expect(() => loadConfig(env)).toThrow(/cannot load the Temporal connection profile [\s\S]*check TEMPORAL_CONFIG_FILE/);
  });

  test('there is no default task queue: clients and the config helpers say how to name one', () => {
    expect(() => requireTaskQueue({}, 'createAgentWorker')).toThrow(/createAgentWorker: no task queue\. Set TASK_QUEUE/);
    expect(requireTaskQueue({ TASK_QUEUE: 'mine' }, 'x')).toBe('mine');
  });
});

describe('on a worker of its own', () => {
  let h: Harness;
  let worker: Worker;
  let running: Promise<void>;
  let connection: NativeConnection;
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider();
  provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
  const taskQueue = `plugin-${Date.now()}`;

  beforeAll(async () => {
    h = await createHarness([
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 } }] },
      { content: 'The sum is 5.' },
    ]);
    connection = await NativeConnection.connect({ address: h.env.TEMPORAL_ADDRESS });
    const tracing: AgentRuntimePluginOptions['tracing'] = {
      spanProcessor: new SimpleSpanProcessor(exporter),
      resource: provider.resource as NonNullable<AgentRuntimePluginOptions['tracing']>['resource'],
      tracer: provider.getTracer('plugin-test'),
    };
    worker = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: { codePath: WORKFLOW_BUNDLE },
      plugins: [
        new AgentRuntimePlugin({
          agents: [adder],
          store: openSessionStore(h.config.AGENT_STORE_URL),
          model: { baseURL: h.model.baseUrl, apiKey: 'test-key', defaultModel: 'gpt-4.1-mini' },
          sandbox: { workspaceRoot: path.join(h.dir, 'ws') },
          tracing,
        }),
      ],
    });
    running = worker.run();
  });

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection?.close();
    await h?.close();
  });

  test('a session runs on it, with one span per model call and per tool call', async () => {
    const sessions = createSessionClient({ client: h.client, taskQueue });
    const { handle, sessionId } = await sessions.start({ agent: 'plugin-adder', task: 'add 2 and 3' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', finalAnswer: 'The sum is 5.' });

    const spans = exporter.getFinishedSpans();
    const model = spans.filter((s) => s.name === MODEL_SPAN);
    const tool = spans.filter((s) => s.name === TOOL_SPAN);
    expect(model).toHaveLength(h.model.requests.length);
    expect(model).toHaveLength(2);
    expect(tool).toHaveLength(1);
    // add is a short read-only tool: the model call ran it (eager), and its span says so.
    expect(tool[0].attributes).toMatchObject({ 'agent.session_id': sessionId, 'agent.name': 'plugin-adder', 'agent.tool': 'add', 'agent.tool.ok': true, 'agent.tool.eager': 1 });
    expect(model[0].attributes).toMatchObject({ 'agent.session_id': sessionId, 'agent.model': 'gpt-4.1-mini' });
    // Temporal's own activity spans come from the interceptors-opentelemetry plugin the option installs. (The
    // agent spans nest inside them when the application registers an OpenTelemetry context manager, e.g. NodeSDK.)
    const names = spans.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['RunActivity:describeAgent', 'RunActivity:callModel']));
  });

  test('createSessionClient needs the task queue of the worker', () => {
    expect(() => createSessionClient({ client: h.client, taskQueue: '' })).toThrow(/taskQueue is required/);
    return expect(startSession(h.client, { agent: 'plugin-adder', task: 'x' }, { TASK_QUEUE: undefined, WEB_UI_URL: 'http://x', TEMPORAL_NAMESPACE: 'default' })).rejects.toThrow(
      /startSession: no task queue/,
    );
  });
});
