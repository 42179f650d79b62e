/**
 * OpenAI Responses API (`POST /responses`). Stateless use (`store: false`): the runtime sends the whole
 * context each step from its own store, as with Chat Completions, so a session never depends on state
 * kept at the provider (which a retry, a continue-as-new or a provider switch would lose).
 */
import type OpenAI from 'openai';
import type { FunctionTool, Response, ResponseInputItem } from 'openai/resources/responses/responses';
import type { ModelMessage } from '../../workflows/model-messages';
import { endpointOf, invalidAnswer, modelCallFailure, notAnObject } from './openai-errors';
import type { ModelProvider, ModelReply, ModelRequest, ModelToolSchema } from './provider';

/** One neutral message as Responses input items (an assistant turn with calls becomes several items). */
export function toResponseItems(m: ModelMessage): ResponseInputItem[] {
  switch (m.role) {
    case 'system':
    case 'user':
      return [{ type: 'message', role: m.role, content: m.content }];
    case 'assistant':
      return [
        ...(m.content ? [{ type: 'message' as const, role: 'assistant' as const, content: m.content }] : []),
        ...(m.toolCalls ?? []).map((c) => ({ type: 'function_call' as const, call_id: c.id, name: c.name, arguments: c.arguments })),
      ];
    case 'tool':
      return [{ type: 'function_call_output', call_id: m.toolCallId, output: m.content }];
  }
}

function toFunctionTool(t: ModelToolSchema): FunctionTool {
  // strict: false: the runtime validates arguments itself (zod) and tells the model what was wrong.
  return { type: 'function', name: t.name, description: t.description, parameters: t.parameters, strict: false };
}

/** Checks that a 200 answer is a response object with an output list; fails at once naming the endpoint otherwise. */
export function checkResponse(response: unknown, endpoint: string): Response {
  const fail = (what: string): never => {
    throw invalidAnswer(endpoint, '/responses', what);
  };
  const bad = notAnObject(response);
  if (bad) return fail(bad);
  const r = response as { output?: unknown; status?: unknown; error?: { message?: unknown } | null };
  if (!Array.isArray(r.output)) return fail(`the body has no "output" array (keys: ${Object.keys(response as object).slice(0, 10).join(', ') || 'none'})`);
  if (r.status === 'failed') return fail(`the response failed: ${String(r.error?.message ?? 'no reason given')}`);
  return response as Response;
}

export function fromResponse(response: Response): ModelReply {
  const texts: string[] = [];
  const toolCalls: ModelReply['toolCalls'] = [];
  for (const item of response.output) {
    if (item.type === 'message') {
      for (const part of item.content) if (part.type === 'output_text') texts.push(part.text);
    } else if (item.type === 'function_call') {
      toolCalls.push({ id: item.call_id, name: item.name, arguments: item.arguments });
    }
  }
  return {
    content: texts.length ? texts.join('') : null,
    toolCalls,
    usage: {
      promptTokens: response.usage?.input_tokens ?? 0,
      completionTokens: response.usage?.output_tokens ?? 0,
      totalTokens: response.usage?.total_tokens ?? 0,
    },
    model: response.model,
  };
}

export class ResponsesProvider implements ModelProvider {
  readonly api = 'responses';
  readonly endpoint: string;

  constructor(private readonly client: OpenAI) {
    this.endpoint = endpointOf(client);
  }

  async complete(request: ModelRequest): Promise<ModelReply> {
    const tools = request.tools?.map(toFunctionTool) ?? [];
    let response: unknown;
    try {
      response = await this.client.responses.create(
        { model: request.model, input: request.messages.flatMap(toResponseItems), store: false, ...(tools.length ? { tools } : {}) },
        { signal: request.signal },
      );
    } catch (err) {
      throw modelCallFailure(err, this.endpoint);
    }
    return fromResponse(checkResponse(response, this.endpoint));
  }
}
