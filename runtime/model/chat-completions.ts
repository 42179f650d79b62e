/** OpenAI Chat Completions (`POST /chat/completions`): OpenAI and any compatible endpoint (OPENAI_BASE_URL). */
import type OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { ModelMessage } from '../../workflows/model-messages';
import { endpointOf, invalidAnswer, modelCallFailure, notAnObject } from './openai-errors';
import type { ModelProvider, ModelReply, ModelRequest, ModelToolSchema } from './provider';

export function toChatMessage(m: ModelMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: m.content };
    case 'assistant':
      return {
        role: 'assistant',
        content: m.content,
        ...(m.toolCalls?.length ? { tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) } : {}),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
  }
}

function toChatTool(t: ModelToolSchema): ChatCompletionTool {
  return { type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } };
}

/**
 * Checks that a 200 answer is a chat completion the runtime can use. An endpoint that answers 200 with
 * something else (an HTML page, a proxy's JSON, `{ "choices": [] }`) will answer the same on a retry:
 * fail at once, naming the endpoint, what was wrong and what to check.
 */
export function checkCompletion(response: unknown, endpoint: string): ChatCompletion {
  const fail = (what: string): never => {
    throw invalidAnswer(endpoint, '/chat/completions', what);
  };
  const bad = notAnObject(response);
  if (bad) return fail(bad);
  const choices = (response as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return fail(`the body has no "choices" array (keys: ${Object.keys(response as object).slice(0, 10).join(', ') || 'none'})`);
  if (choices.length === 0) return fail('"choices" is empty');
  const message = (choices[0] as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object') return fail('choices[0] has no "message" object');
  return response as ChatCompletion;
}

export function fromChatCompletion(response: ChatCompletion): ModelReply {
  const msg = response.choices[0].message;
  return {
    content: msg.content ?? null,
    toolCalls: (msg.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [])),
    usage: {
      promptTokens: response.usage?.prompt_tokens ?? 0,
      completionTokens: response.usage?.completion_tokens ?? 0,
      totalTokens: response.usage?.total_tokens ?? 0,
    },
    model: response.model,
  };
}

export class ChatCompletionsProvider implements ModelProvider {
  readonly api = 'chat-completions';
  readonly endpoint: string;

  constructor(private readonly client: OpenAI) {
    this.endpoint = endpointOf(client);
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const tools = request.tools?.map(toChatTool) ?? [];
    let response: unknown;
    try {
      response = await this.client.chat.completions.create(
        { model: request.model, messages: request.messages.map(toChatMessage), ...(tools.length ? { tools } : {}) },
        { signal: request.signal },
      );
    } catch (err) {
      throw modelCallFailure(err, this.endpoint);
    }
    return fromChatCompletion(checkCompletion(response, this.endpoint));
  }
}
