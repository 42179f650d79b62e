/** One OpenTelemetry span per model call and per tool call, inside Temporal's own activity span. */
import { SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import type { CallModelInput, RunToolInput, ToolTracer } from '../activities';

export const MODEL_SPAN = 'agent.model_call';
export const TOOL_SPAN = 'agent.tool_call';

function toolAttributes(arg: Partial<RunToolInput> | undefined, attempt: number, local: boolean): Record<string, string | number> {
  return {
    'agent.session_id': String(arg?.sessionId ?? ''),
    'agent.name': String(arg?.agent ?? ''),
    'agent.seq': Number(arg?.seq ?? -1),
    'agent.tool': String(arg?.name ?? ''),
    'temporal.activity.attempt': attempt,
    'temporal.activity.local': local ? 1 : 0,
  };
}

/**
 * The agent.tool_call span for a tool the model call ran itself (activities, callModel: eager tools), nested in
 * the model call's span, with the same attributes as a tool call run as its own activity.
 */
export function eagerToolTracer(tracer: Tracer = trace.getTracer('agent-runtime')): ToolTracer {
  return (input, run) =>
    tracer.startActiveSpan(TOOL_SPAN, { attributes: { ...toolAttributes(input, 1, true), 'agent.tool.eager': 1 } }, async (span) => {
      try {
        const out = await run();
        span.setAttribute('agent.tool.ok', out.ok);
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

/** Activity interceptor: spans named agent.model_call / agent.tool_call with the session, agent, step and tool. */
export function agentSpanInterceptor(tracer: Tracer = trace.getTracer('agent-runtime')): ActivityInterceptorsFactory {
  return (ctx) => {
    const inbound: ActivityInboundCallsInterceptor = {
      async execute(input, next) {
        const type = ctx.info.activityType;
        if (type !== 'callModel' && type !== 'runTool') return next(input);
        const arg = input.args[0] as Partial<CallModelInput & RunToolInput> | undefined;
        const attributes: Record<string, string | number> = {
          'agent.session_id': String(arg?.sessionId ?? ''),
          'agent.name': String(arg?.agent ?? ''),
          'agent.seq': Number(arg?.seq ?? -1),
          'temporal.activity.attempt': ctx.info.attempt,
          'temporal.activity.local': ctx.info.isLocal ? 1 : 0,
        };
        if (type === 'callModel') attributes['agent.model'] = String(arg?.model ?? '');
        else attributes['agent.tool'] = String(arg?.name ?? '');
        const name = type === 'callModel' ? MODEL_SPAN : TOOL_SPAN;
        return tracer.startActiveSpan(name, { attributes }, async (span) => {
          try {
            const out = await next(input);
            if (type === 'runTool' && out && typeof out === 'object' && 'ok' in out) span.setAttribute('agent.tool.ok', Boolean(out.ok));
            return out;
          } catch (err) {
            span.recordException(err instanceof Error ? err : String(err));
            span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
            throw err;
          } finally {
            span.end();
          }
        });
      },
    };
    return { inbound };
  };
}
