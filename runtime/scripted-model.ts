/**
 * The scripted model server: a real HTTP server speaking the OpenAI wire formats (Chat Completions at
 * /v1/chat/completions, the Responses API at /v1/responses, embeddings), driven by a script instead of a
 * model. It is the only stand-in in tests and the offline demo; the runtime reaches it through the
 * `openai` client exactly as it would reach a real endpoint. Scripts see every request as a chat request
 * (Responses input items are converted), so one script serves both protocols.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedToolCall {
  name: string;
  /** Object (serialised for you) or a raw string, to script malformed arguments. */
  arguments: Record<string, unknown> | string;
  id?: string;
}

export interface ScriptedTurn {
  content?: string;
  toolCalls?: ScriptedToolCall[];
  /** Answer with this HTTP error instead of a completion. */
  error?: { status: number; message: string; type?: string };
  /** Answer 200 with this JSON body instead of a completion (an endpoint that is not really OpenAI-compatible). */
  rawBody?: unknown;
  /** Wait before answering (to crash a worker mid-call, or simulate latency). */
  delayMs?: number;
  usage?: { prompt_tokens: number; completion_tokens: number };
}

export interface ChatRequestMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatRequestMessage[];
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>;
  /** Which endpoint the request came to (absent: chat-completions). */
  api?: 'chat-completions' | 'responses';
}

/** A Responses API request body, as much of it as the server reads. */
export interface ResponsesRequest {
  model: string;
  instructions?: string | null;
  input: string | Array<Record<string, unknown>>;
  tools?: Array<{ type: string; name?: string; description?: string | null; parameters?: unknown }>;
  store?: boolean;
}

/** A script is a fixed list of turns, consumed in order, or a function of the request. */
export type ModelScript = ScriptedTurn[] | ((req: ChatRequest, callIndex: number) => ScriptedTurn);

export interface ScriptedModelServer {
  /** Base URL for OPENAI_BASE_URL, e.g. http://127.0.0.1:4010/v1 */
  baseUrl: string;
  /** Every model request received, in order, as a chat request (for assertions and scripts). */
  requests: ChatRequest[];
  /** Request bodies exactly as they came over the wire (either protocol), in the order of `requests`. */
  rawRequests: unknown[];
  /** When each request of `requests` arrived (performance.now() of this process): step times for benches. */
  requestTimes: number[];
  /** Texts sent to the /embeddings endpoint. */
  embedded: string[];
  setScript(script: ModelScript): void;
  close(): Promise<void>;
}

function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/**
 * Deterministic stand-in for an embedding model (hashed bag of words, 64 dimensions, unit length):
 * texts sharing words are close. Enough to exercise hybrid search over the real wire format.
 */
export function hashedEmbedding(text: string, dims = 64): number[] {
  const v = new Array<number>(dims).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    v[Math.abs(h) % dims] += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function textOfContent(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join('');
  return content == null ? '' : JSON.stringify(content);
}

/** A Responses API request seen as a chat request: instructions and messages, calls folded into assistant turns. */
export function responsesToChat(body: ResponsesRequest): ChatRequest {
  const messages: ChatRequestMessage[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  const items = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : body.input;
  for (const item of items) {
    const type = item.type ?? 'message';
    if (type === 'message') {
      messages.push({ role: String(item.role) === 'developer' ? 'system' : String(item.role), content: textOfContent(item.content) });
    } else if (type === 'function_call') {
      const call = { id: String(item.call_id), function: { name: String(item.name), arguments: String(item.arguments) } };
      const last = messages[messages.length - 1];
      // Consecutive calls belong to one assistant turn, as in Chat Completions.
      if (last?.role === 'assistant') (last.tool_calls ??= []).push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: String(item.call_id), content: textOfContent(item.output) });
    } else {
      throw new Error(`scripted model: unsupported input item type '${String(type)}'`);
    }
  }
  const tools = (body.tools ?? [])
    .filter((t) => t.type === 'function')
    .map((t) => ({ type: 'function' as const, function: { name: String(t.name), description: t.description ?? undefined, parameters: t.parameters } }));
  return { model: body.model, messages, ...(tools.length ? { tools } : {}), api: 'responses' };
}

interface Answer {
  content: string | null;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  promptTokens: number;
  completionTokens: number;
}

function chatCompletionBody(a: Answer, model: string, n: number): unknown {
  const toolCalls = a.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
  return {
    id: `chatcmpl-scripted-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'scripted-model-server',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: a.content, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
        finish_reason: toolCalls.length ? 'tool_calls' : 'stop',
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: a.promptTokens, completion_tokens: a.completionTokens, total_tokens: a.promptTokens + a.completionTokens },
  };
}

/** A Responses API `response` object (stateless: store false echoed back), as api.openai.com sends it. */
function responseBody(a: Answer, req: ResponsesRequest, n: number): unknown {
  const output: unknown[] = [];
  if (a.content !== null) {
    output.push({ type: 'message', id: `msg_scripted_${n}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: a.content, annotations: [], logprobs: [] }] });
  }
  for (const [i, c] of a.toolCalls.entries()) {
    output.push({ type: 'function_call', id: `fc_scripted_${n}_${i}`, call_id: c.id, name: c.name, arguments: c.arguments, status: 'completed' });
  }
  return {
    id: `resp_scripted_${n}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: 'completed',
    background: false,
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: null,
    model: req.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: req.store ?? true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: req.tools ?? [],
    top_p: 1,
    truncation: 'disabled',
    usage: {
      input_tokens: a.promptTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: a.completionTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: a.promptTokens + a.completionTokens,
    },
    user: null,
    metadata: {},
  };
}

export async function startScriptedModelServer(script: ModelScript = [], port = 0): Promise<ScriptedModelServer> {
  let current: ModelScript = script;
  let listIndex = 0;
  let callIndex = 0;
  const requests: ChatRequest[] = [];
  const rawRequests: unknown[] = [];
  const requestTimes: number[] = [];
  const embedded: string[] = [];

  const nextTurn = (req: ChatRequest): ScriptedTurn => {
    const i = callIndex++;
    if (typeof current === 'function') return current(req, i);
    const turn = current[listIndex++];
    if (!turn) return { error: { status: 500, message: `scripted model: script exhausted after ${current.length} turns` } };
    return turn;
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'POST' && req.url?.endsWith('/embeddings')) {
        const body = JSON.parse(await readBody(req)) as { model: string; input: string | string[]; encoding_format?: 'float' | 'base64' };
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        embedded.push(...inputs);
        sendJson(res, 200, {
          object: 'list',
          model: body.model,
          // As the real API: float arrays, or little-endian float32 in base64 (the openai client asks for that by default).
          data: inputs.map((text, index) => {
            const vector = hashedEmbedding(text);
            const embedding = body.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
            return { object: 'embedding', index, embedding };
          }),
          usage: { prompt_tokens: inputs.reduce((n, t) => n + estimateTokens(t), 0), total_tokens: inputs.reduce((n, t) => n + estimateTokens(t), 0) },
        });
        return;
      }
      const api = req.method !== 'POST' ? undefined : req.url?.endsWith('/chat/completions') ? 'chat-completions' : req.url?.endsWith('/responses') ? 'responses' : undefined;
      if (!api) {
        sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
        return;
      }
      let raw: unknown;
      let body: ChatRequest;
      try {
        raw = JSON.parse(await readBody(req));
        body = api === 'responses' ? responsesToChat(raw as ResponsesRequest) : (raw as ChatRequest);
      } catch (err) {
        sendJson(res, 400, { error: { message: `request body is not a ${api} request: ${String(err)}`, type: 'invalid_request_error' } });
        return;
      }
      requests.push(body);
      rawRequests.push(raw);
      requestTimes.push(performance.now());
      let turn: ScriptedTurn;
      try {
        turn = nextTurn(body);
      } catch (err) {
        turn = { error: { status: 500, message: `scripted model: script threw: ${String(err)}` } };
      }
      if (turn.delayMs) await new Promise((r) => setTimeout(r, turn.delayMs));
      if (turn.error) {
        sendJson(res, turn.error.status, {
          error: { message: turn.error.message, type: turn.error.type ?? 'api_error', code: null, param: null },
        });
        return;
      }
      if (turn.rawBody !== undefined) {
        sendJson(res, 200, turn.rawBody);
        return;
      }
      const toolCalls = (turn.toolCalls ?? []).map((c, i) => ({
        id: c.id ?? `call_${callIndex}_${i}`,
        name: c.name,
        arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
      }));
      const answer: Answer = {
        content: turn.content ?? null,
        toolCalls,
        promptTokens: turn.usage?.prompt_tokens ?? estimateTokens(JSON.stringify(body.messages)),
        // Estimated over the Chat Completions shape of the calls, for both protocols (figures stay comparable).
        completionTokens:
          turn.usage?.completion_tokens ??
          estimateTokens((turn.content ?? '') + JSON.stringify(toolCalls.length ? toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) : [])),
      };
      sendJson(res, 200, api === 'responses' ? responseBody(answer, raw as ResponsesRequest, callIndex) : chatCompletionBody(answer, body.model, callIndex));
    })().catch((err) => sendJson(res, 500, { error: { message: String(err), type: 'api_error' } }));
  });

  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actualPort } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${actualPort}/v1`,
    requests,
    rawRequests,
    requestTimes,
    embedded,
    setScript(s) {
      current = s;
      listIndex = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The last message of a request, for scripts that answer according to what just happened. */
export function lastMessage(req: ChatRequest): ChatRequestMessage | undefined {
  return req.messages[req.messages.length - 1];
}

/** Text content of a message (string or content parts). */
export function messageText(m: ChatRequestMessage | undefined): string {
  if (!m || m.content == null) return '';
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) return m.content.map((p: { text?: string }) => p.text ?? '').join('');
  return JSON.stringify(m.content);
}
