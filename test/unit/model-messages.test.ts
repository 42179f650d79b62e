/**
 * Neutral transcript messages: what sessions stored before the provider seam (OpenAI chat shapes) reads
 * back as, and how each provider puts neutral messages on its wire.
 */
import { toChatMessage } from '../../runtime/model/chat-completions';
import { toModelMessage } from '../../runtime/model/messages';
import { toResponseItems } from '../../runtime/model/responses';
import type { ModelMessage } from '../../workflows/model-messages';

const neutral: ModelMessage[] = [
  { role: 'system', content: 'You send notices.' },
  { role: 'user', content: 'notify bo' },
  { role: 'assistant', content: 'on it', toolCalls: [{ id: 'c1', name: 'send', arguments: '{"to":"bo"}' }, { id: 'c2', name: 'log', arguments: '{}' }] },
  { role: 'tool', toolCallId: 'c1', content: 'sent' },
  { role: 'tool', toolCallId: 'c2', content: 'logged' },
  { role: 'assistant', content: 'done' },
];

test('legacy stored messages (OpenAI chat shape, as written before the seam) read as neutral messages', () => {
  const legacy = [
    { role: 'system', content: 'You send notices.' },
    { role: 'user', content: [{ type: 'text', text: 'notify ' }, { type: 'text', text: 'bo' }] },
    {
      role: 'assistant',
      content: 'on it',
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'send', arguments: '{"to":"bo"}' } },
        { id: 'c2', type: 'function', function: { name: 'log', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'c1', content: 'sent' },
    { role: 'tool', tool_call_id: 'c2', content: 'logged' },
    { role: 'assistant', content: 'done' },
  ];
  expect(legacy.map(toModelMessage)).toEqual(neutral);
});

test('neutral stored messages read back unchanged; an unknown role is an error naming it', () => {
  expect(neutral.map((m) => toModelMessage({ ...m }))).toEqual(neutral);
  expect(toModelMessage({ role: 'developer', content: 'be brief' })).toEqual({ role: 'system', content: 'be brief' });
  expect(toModelMessage({ role: 'assistant', content: null })).toEqual({ role: 'assistant', content: null });
  expect(() => toModelMessage({ role: 'function', content: 'x' })).toThrow(/unknown role "function"/);
});

test('Chat Completions wire: tool_calls on the assistant message, tool_call_id on results', () => {
  expect(neutral.map(toChatMessage)).toEqual([
    { role: 'system', content: 'You send notices.' },
    { role: 'user', content: 'notify bo' },
    {
      role: 'assistant',
      content: 'on it',
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'send', arguments: '{"to":"bo"}' } },
        { id: 'c2', type: 'function', function: { name: 'log', arguments: '{}' } },
      ],
    },
    { role: 'tool', tool_call_id: 'c1', content: 'sent' },
    { role: 'tool', tool_call_id: 'c2', content: 'logged' },
    { role: 'assistant', content: 'done' },
  ]);
});

test('Responses wire: an assistant turn becomes a message item and one function_call item per call; results are function_call_output', () => {
  expect(neutral.flatMap(toResponseItems)).toEqual([
    { type: 'message', role: 'system', content: 'You send notices.' },
    { type: 'message', role: 'user', content: 'notify bo' },
    { type: 'message', role: 'assistant', content: 'on it' },
    { type: 'function_call', call_id: 'c1', name: 'send', arguments: '{"to":"bo"}' },
    { type: 'function_call', call_id: 'c2', name: 'log', arguments: '{}' },
    { type: 'function_call_output', call_id: 'c1', output: 'sent' },
    { type: 'function_call_output', call_id: 'c2', output: 'logged' },
    { type: 'message', role: 'assistant', content: 'done' },
  ]);
  // An assistant turn with calls and no text sends no empty message item.
  expect(toResponseItems({ role: 'assistant', content: null, toolCalls: [{ id: 'c9', name: 'x', arguments: '{}' }] })).toEqual([
    { type: 'function_call', call_id: 'c9', name: 'x', arguments: '{}' },
  ]);
});
