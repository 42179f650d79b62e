import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { NewMessage } from '../../runtime/store/types';
import type { TranscriptEntry } from '../../workflows/types';

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

/** The store rows a run had written for these transcript entries (a new run reads its context from the store, not from the carry). */
export function storedRows(transcript: TranscriptEntry[]): NewMessage[] {
  return transcript.map((e) => {
    if (e.role === 'assistant') {
      const calls = (e.toolCalls ?? []).map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: JSON.stringify(c.args) } }));
      return { seq: e.seq, message: { role: 'assistant', content: e.text, ...(calls.length ? { tool_calls: calls } : {}) } };
    }
    if (e.role === 'tool') return { seq: e.seq, message: { role: 'tool', tool_call_id: e.toolCallId, content: e.text } };
    return { seq: e.seq, message: { role: e.role, content: e.text } };
  });
}
