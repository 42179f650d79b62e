/**
 * The model providers on their real wire: the Chat Completions and Responses providers call the scripted
 * model server (real HTTP, the `openai` client, the OpenAI wire formats) and must agree on the neutral
 * reply. No Temporal server: a fast-layer test.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ChatCompletionsProvider, FakeModelProvider, openAIClient, openAIProvider, ResponsesProvider, type ModelProvider } from '../../runtime/model';
import { startScriptedModelServer, type ScriptedModelServer } from '../../runtime/scripted-model';
import type { ModelMessage } from '../../workflows/model-messages';

let server: ScriptedModelServer;
beforeAll(async () => {
  server = await startScriptedModelServer();
});
afterAll(async () => server?.close());

const history: ModelMessage[] = [
  { role: 'system', content: 'You send notices.' },
  { role: 'user', content: 'notify bo' },
  { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'send_notice', arguments: '{"recipient":"bo"}' }] },
  { role: 'tool', toolCallId: 'c1', content: 'sent' },
];
const tools = [{ name: 'send_notice', description: 'Sends a notice.', parameters: { type: 'object', properties: { recipient: { type: 'string' } } } }];

const providers: Array<[string, () => ModelProvider]> = [
  ['chat-completions', () => new ChatCompletionsProvider(openAIClient({ baseURL: server.baseUrl, apiKey: 'k' }))],
  ['responses', () => new ResponsesProvider(openAIClient({ baseURL: server.baseUrl, apiKey: 'k' }))],
];

describe.each(providers)('%s over HTTP', (api, make) => {
  test('sends the whole context and the tools; the scripted server sees the same conversation either way', async () => {
    server.setScript([{ content: 'all sent', usage: { prompt_tokens: 120, completion_tokens: 7 } }]);
    const before = server.requests.length;
    const reply = await make().complete({ model: 'scripted', messages: history, tools });
    expect(reply).toEqual({ content: 'all sent', toolCalls: [], usage: { promptTokens: 120, completionTokens: 7, totalTokens: 127 }, model: 'scripted' });
    const seen = server.requests[before];
    expect(seen.api ?? 'chat-completions').toBe(api);
    expect(seen.messages).toEqual([
      { role: 'system', content: 'You send notices.' },
      { role: 'user', content: 'notify bo' },
      expect.objectContaining({ role: 'assistant', tool_calls: [expect.objectContaining({ id: 'c1', function: { name: 'send_notice', arguments: '{"recipient":"bo"}' } })] }),
      { role: 'tool', tool_call_id: 'c1', content: 'sent' },
    ]);
    expect(seen.tools?.map((t) => t.function.name)).toEqual(['send_notice']);
  });

  test('tool calls come back as neutral calls with their ids and raw argument text', async () => {
    server.setScript([{ toolCalls: [{ id: 'call_x', name: 'send_notice', arguments: { recipient: 'cy' } }, { id: 'call_y', name: 'send_notice', arguments: '{not json' }] }]);
    const reply = await make().complete({ model: 'scripted', messages: history.slice(0, 2), tools });
    expect(reply.content).toBeNull();
    expect(reply.toolCalls).toEqual([
      { id: 'call_x', name: 'send_notice', arguments: '{"recipient":"cy"}' },
      { id: 'call_y', name: 'send_notice', arguments: '{not json' },
    ]);
  });

  test('a 401 is non-retryable and names the endpoint; a 503 and a 429 stay retryable', async () => {
    server.setScript([{ error: { status: 401, message: 'bad key' } }, { error: { status: 503, message: 'overloaded' } }, { error: { status: 429, message: 'slow down', type: 'rate_limit_error' } }]);
    const p = make();
    const rejected = await p.complete({ model: 'scripted', messages: history.slice(0, 2) }).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(ApplicationFailure);
    expect(rejected).toMatchObject({ nonRetryable: true, type: 'ModelRequestRejected', message: expect.stringContaining(`model endpoint ${server.baseUrl} answered 401`) });
    const overloaded = await p.complete({ model: 'scripted', messages: history.slice(0, 2) }).catch((e: unknown) => e);
    expect(overloaded).toMatchObject({ status: 503 });
    expect(overloaded).not.toMatchObject({ nonRetryable: true });
    const limited = await p.complete({ model: 'scripted', messages: history.slice(0, 2) }).catch((e: unknown) => e);
    expect(limited).toMatchObject({ status: 429 });
  });

  test('a 200 that is not the protocol fails at once, naming the endpoint and the path to check', async () => {
    server.setScript([{ rawBody: { hello: 'proxy' } }]);
    const err = await make().complete({ model: 'scripted', messages: history.slice(0, 2) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ nonRetryable: true, type: 'ModelResponseInvalid' });
    expect((err as Error).message).toContain(api === 'responses' ? 'no "output" array' : 'no "choices" array');
    expect((err as Error).message).toContain(api === 'responses' ? '/responses API' : '/chat/completions API');
  });
});

test('the Responses provider sends the real Responses wire format (input items, flat function tools, store: false)', async () => {
  server.setScript([{ content: 'ok' }]);
  await new ResponsesProvider(openAIClient({ baseURL: server.baseUrl, apiKey: 'k' })).complete({ model: 'scripted', messages: history, tools });
  const raw = server.rawRequests[server.rawRequests.length - 1] as Record<string, unknown>;
  expect(raw).toMatchObject({
    model: 'scripted',
    store: false,
    tools: [{ type: 'function', name: 'send_notice', description: 'Sends a notice.', strict: false }],
    input: [
      { type: 'message', role: 'system', content: 'You send notices.' },
      { type: 'message', role: 'user', content: 'notify bo' },
      { type: 'function_call', call_id: 'c1', name: 'send_notice', arguments: '{"recipient":"bo"}' },
      { type: 'function_call_output', call_id: 'c1', output: 'sent' },
    ],
  });
  expect(raw).not.toHaveProperty('messages');
});

test('MODEL_API picks the protocol', () => {
  const client = openAIClient({ baseURL: server.baseUrl });
  expect(openAIProvider('chat-completions', client).api).toBe('chat-completions');
  expect(openAIProvider('responses', client).api).toBe('responses');
  expect(openAIProvider('responses', client).endpoint).toBe(server.baseUrl);
});

test('the fake provider answers from its script in process and records each request', async () => {
  const fake = new FakeModelProvider([{ content: 'one' }, { toolCalls: [{ name: 't', arguments: { a: 1 } }] }]);
  expect(await fake.complete({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).toMatchObject({ content: 'one', toolCalls: [] });
  expect((await fake.complete({ model: 'm', messages: [] })).toolCalls).toEqual([{ id: 'fake_call_1_0', name: 't', arguments: '{"a":1}' }]);
  await expect(fake.complete({ model: 'm', messages: [] })).rejects.toThrow(/script exhausted after 2 calls/);
  expect(fake.requests[0]).toEqual({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
});
