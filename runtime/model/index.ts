/** Model providers: the protocol a worker speaks to its model, chosen by MODEL_API. */
import OpenAI from 'openai';
import { ChatCompletionsProvider } from './chat-completions';
import type { ModelProvider } from './provider';
import { ResponsesProvider } from './responses';

export type { ModelMessage, ModelProvider, ModelReply, ModelRequest, ModelToolCall, ModelToolSchema } from './provider';
export { ChatCompletionsProvider } from './chat-completions';
export { ResponsesProvider } from './responses';
export { FakeModelProvider, type FakeScript, type FakeTurn } from './fake';
export { toModelMessage, toStoredMessage } from './messages';

export const MODEL_APIS = ['chat-completions', 'responses'] as const;
export type ModelApi = (typeof MODEL_APIS)[number];

/** The `openai` client as the runtime uses it: Temporal retries the activity, so the client must not retry on its own. */
export function openAIClient(opts: { baseURL?: string; apiKey?: string }): OpenAI {
  return new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || 'no-key-scripted-model', maxRetries: 0, timeout: 120_000 });
}

/** A provider for an OpenAI protocol over an existing client (the worker shares it with embeddings). */
export function openAIProvider(api: ModelApi, client: OpenAI): ModelProvider {
  return api === 'responses' ? new ResponsesProvider(client) : new ChatCompletionsProvider(client);
}
