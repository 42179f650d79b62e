/** One OpenTelemetry span per model call and per tool call, inside Temporal's own activity span. */
import { SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import type { CallModelInput, RunToolInput, ToolTracer } from '../activities';

export const MODEL_SPAN = 'agent.model_call';
export const TOOL_SPAN = 'agent.tool_call';

/** Runs `run` in an active span; a thrown error is recorded on the span and thrown on. */
function inSpan<T>(tracer: Tracer, name: string, attributes: Attributes, run: () => Promise<T>, onResult: (span: Span, out: T) => void): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      const out = await run();
      onResult(span, out);
      return out;
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

function callAttributes(arg: Partial<CallModelInput & RunToolInput> | undefined, attempt: number, local: boolean): Attributes {
  return {
    'agent.session_id': String(arg?.sessionId ?? ''),
    'agent.name': String(arg?.agent ?? ''),
    'agent.seq': Number(arg?.seq ?? -1),
    'temporal.activity.attempt': attempt,
    'temporal.activity.local': local ? 1 : 0,
  };
}

const markOk = (span: Span, out: unknown): void => {
  if (out && typeof out === 'object' && 'ok' in out) span.setAttribute('agent.tool.ok', Boolean(out.ok));
};

/**
 * The agent.tool_call span for a tool the model call ran itself (activities, callModel: eager tools), nested in
 * the model call's span, with the same attributes as a tool call run as its own activity.
 */
export function eagerToolTracer(tracer: Tracer = trace.getTracer('agent-runtime')): ToolTracer {
  return (input, run) => inSpan(tracer, TOOL_SPAN, { ...callAttributes(input, 1, true), 'agent.tool': input.name, 'agent.tool.eager': 1 }, run, markOk);
}

/** Activity interceptor: spans named agent.model_call / agent.tool_call with the session, agent, step and tool. */
export function agentSpanInterceptor(tracer: Tracer = trace.getTracer('agent-runtime')): ActivityInterceptorsFactory {
  return (ctx) => {
    const inbound: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        const type = ctx.info.activityType;
        if (type !== 'callModel' && type !== 'runTool') return next(input);
        const arg = input.args[0] as Partial<CallModelInput & RunToolInput> | undefined;
        const attributes = callAttributes(arg, ctx.info.attempt, ctx.info.isLocal);
        if (type === 'callModel') return inSpan(tracer, MODEL_SPAN, { ...attributes, 'agent.model': String(arg?.model ?? '') }, () => next(input), () => undefined);
        return inSpan(tracer, TOOL_SPAN, { ...attributes, 'agent.tool': String(arg?.name ?? '') }, () => next(input), markOk);
      },
    };
    return { inbound };
  };
}
