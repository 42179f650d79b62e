/**
 * An in-process model for unit tests of activities and providers' callers: no HTTP, no server. It answers
 * from a script and records each request. End-to-end tests use the scripted model server instead
 * (runtime/scripted-model.ts), which speaks the real wire formats over HTTP.
 */
import type { ModelProvider, ModelReply, ModelRequest } from './provider';

export interface FakeTurn {
  content?: string | null;
  toolCalls?: Array<{ name: string; arguments: Record<string, unknown> | string; id?: string }>;
  usage?: { promptTokens: number; completionTokens: number };
  /** Throw this instead of answering (to test error paths). */
  error?: Error;
}

export type FakeScript = FakeTurn[] | ((request: ModelRequest, callIndex: number) => FakeTurn);

export class FakeModelProvider implements ModelProvider {
  readonly api = 'fake';
  readonly endpoint = 'in-process fake model';
  /** Requests received, in order (messages copied: later mutation by the caller does not show here). */
  readonly requests: Array<Omit<ModelRequest, 'signal'>> = [];
  private calls = 0;

  constructor(private readonly script: FakeScript = []) {}

  async complete(request: ModelRequest): Promise<ModelReply> {
    const { signal: _signal, ...rest } = request;
    this.requests.push(structuredClone(rest));
    const i = this.calls++;
    const turn = typeof this.script === 'function' ? this.script(request, i) : this.script[i];
    if (!turn) throw new Error(`fake model: script exhausted after ${i} calls`);
    if (turn.error) throw turn.error;
    const toolCalls = (turn.toolCalls ?? []).map((c, j) => ({
      id: c.id ?? `fake_call_${i}_${j}`,
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
    }));
    const promptTokens = turn.usage?.promptTokens ?? 10;
    const completionTokens = turn.usage?.completionTokens ?? 5;
    return {
      content: turn.content ?? null,
      toolCalls,
      usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
      model: request.model,
    };
  }
}
