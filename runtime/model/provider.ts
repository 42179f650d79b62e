/**
 * The seam between the runtime and a model's wire protocol. A provider turns the runtime's neutral
 * messages and tool schemas into one request and the answer back into a neutral reply; retries, budgets
 * and validation of tool calls stay in the runtime.
 *
 * Error contract (providers run inside activities): a failure that retrying cannot change (bad request,
 * auth, unknown model, an answer that is not the protocol) is thrown as a non-retryable
 * `ApplicationFailure` naming the endpoint and the fix; anything else may be thrown as is and Temporal
 * retries it with backoff.
 */
import type { ModelMessage, ModelToolCall } from '../../workflows/model-messages';
import type { TokenUsage } from '../../workflows/types';

export type { ModelMessage, ModelToolCall } from '../../workflows/model-messages';

/** A function the model may call: JSON Schema parameters, as derived from the tool's zod schema. */
export interface ModelToolSchema {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ModelRequest {
  model: string;
  messages: ModelMessage[];
  tools?: ModelToolSchema[];
  /** Aborted when the activity is cancelled: the HTTP request stops with it. */
  signal?: AbortSignal;
}

export interface ModelReply {
  content: string | null;
  toolCalls: ModelToolCall[];
  usage: TokenUsage;
  /** The model that answered, as the endpoint names it. */
  model: string;
}

export interface ModelProvider {
  /** Protocol name for logs and errors, e.g. 'chat-completions'. */
  readonly api: string;
  /** Where requests go (no credentials), for error messages and start-up checks. */
  readonly endpoint: string;
  complete(request: ModelRequest): Promise<ModelReply>;
}
