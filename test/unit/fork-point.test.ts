/** The parent's state at a fork point, worked out from its stored entries (activities/fork.ts forkPoint). */
import { forkPoint } from '../../activities/fork';
import type { StoredMessage } from '../../runtime/store';

const usage = (n: number) => ({ promptTokens: n, completionTokens: 1, totalTokens: n + 1 });
const call = (id: string, recipient: string) => ({ id, name: 'send_notice', args: { recipient }, summary: `send_notice(${recipient})` });
const entry = (seq: number, message: Record<string, unknown>, meta: Record<string, unknown> | null = null): StoredMessage => ({
  sessionId: 'p',
  seq,
  message,
  meta,
  createdAt: '2026-01-01T00:00:00Z',
});
const refuse = (why: string): never => {
  throw new Error(why);
};

// 0 system, 1 user, 2 turn with two calls (3 stored, 4 not yet), then nothing.
const prefix = [
  entry(0, { role: 'system', content: 'You send notices.' }, { pinned: true }),
  entry(1, { role: 'user', content: 'notify a and b' }),
  entry(2, { role: 'assistant', content: null, toolCalls: [{ id: 'c1', name: 'send_notice', arguments: '{}' }] }, {
    turn: { seq: 2, content: null, toolCalls: [call('c1', 'a'), call('c2', 'b')], usage: usage(10), model: 'm' },
  }),
  entry(3, { role: 'tool', toolCallId: 'c1', content: 'delivered a' }, { ok: true, tool: 'send_notice' }),
];

test('the unfinished calls of the last turn run in the fork under their own seqs; steps and usage come from the stored turns', () => {
  const p = forkPoint(prefix, 3, refuse);
  expect(p).toMatchObject({ atSeq: 3, nextSeq: 5, steps: 1, usage: usage(10), answered: false, lastPromptTokens: 10 });
  expect(p.openCalls).toEqual([{ seq: 4, call: call('c2', 'b') }]);
  expect(p.transcript.map((e) => [e.seq, e.role, e.text])).toEqual([
    [0, 'system', 'You send notices.'],
    [1, 'user', 'notify a and b'],
    [2, 'assistant', null],
    [3, 'tool', 'delivered a'],
  ]);
  // At the turn itself both calls are open (a call waiting on an approval asks again in the fork).
  expect(forkPoint(prefix.slice(0, 3), 2, refuse).openCalls.map((c) => c.seq)).toEqual([3, 4]);
});

test('a result the parent has not stored yet, below the fork point, is refused with where to fork instead', () => {
  const gap = [...prefix.slice(0, 3), entry(4, { role: 'tool', toolCallId: 'c2', content: 'delivered b' }, { ok: true })];
  expect(() => forkPoint(gap, 4, refuse)).toThrow('the result of tool call send_notice (seq 3) is not stored yet');
  expect(() => forkPoint(gap, 4, refuse)).toThrow('fork at seq 2');
});

test('an answered prefix says so; a compaction summary sets the context and counts its tokens', () => {
  const answered = [
    ...prefix.slice(0, 2),
    entry(2, { role: 'assistant', content: 'hi' }, { turn: { seq: 2, content: 'hi', toolCalls: [], usage: usage(5), model: 'm' } }),
    entry(3, { role: 'user', content: '[summary]' }, { kind: 'summary', compaction: { contextFrom: 2, summarySeq: 3, usage: usage(7), preview: 's' } }),
    entry(4, { role: 'assistant', content: 'done' }, { turn: { seq: 4, content: 'done', toolCalls: [], usage: usage(3), model: 'm' } }),
  ];
  const p = forkPoint(answered, 4, refuse);
  expect(p).toMatchObject({ answered: true, steps: 2, context: { fromSeq: 2, summarySeq: 3 }, openCalls: [], nextSeq: 5 });
  expect(p.usage).toEqual({ promptTokens: 15, completionTokens: 3, totalTokens: 18 });
  expect(p.transcript[3]).toMatchObject({ seq: 3, kind: 'summary' });
});
