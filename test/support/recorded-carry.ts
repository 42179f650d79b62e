import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The input of the continue-as-new a v1 run issued (test/replay/histories/continued-as-new-first-run.json). */
export function recordedV1Carry(): { input: { agent: string; task: string; carry: Record<string, unknown> } } {
  const file = path.join(__dirname, '..', 'replay', 'histories', 'continued-as-new-first-run.json');
  const recorded = JSON.parse(readFileSync(file, 'utf8')) as {
    history: { events: Array<{ workflowExecutionContinuedAsNewEventAttributes?: { input: { payloads: Array<{ data: string }> } } }> };
  };
  const attrs = recorded.history.events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes;
  if (!attrs) throw new Error(`${file} does not end with a continue-as-new`);
  return { input: JSON.parse(Buffer.from(attrs.input.payloads[0].data, 'base64').toString('utf8')) };
}
