/**
 * The LoCoMo loader on a tiny file in LoCoMo's format, written here (the real locomo10.json is not
 * committed and not reachable from CI): turns per session with dates, photo captions, evidence ids
 * split and checked, category 5 (adversarial, no evidence) skipped, whole conversations per split.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLocomo } from '../../examples/bench/memory-data';
import { metrics, PlainBm25 } from '../../examples/bench/memory-quality';

const sample = (id: string) => ({
  sample_id: id,
  conversation: {
    speaker_a: 'Ann',
    speaker_b: 'Bo',
    session_1_date_time: '1:56 pm on 8 May, 2023',
    session_1: [
      { speaker: 'Ann', dia_id: 'D1:1', text: 'I adopted a cat last week.' },
      { speaker: 'Bo', dia_id: 'D1:2', text: 'Look at this!', blip_caption: 'a photo of a red bicycle' },
    ],
    session_2_date_time: '2:00 pm on 15 May, 2023',
    session_2: [{ speaker: 'Ann', dia_id: 'D2:1', text: 'The cat is called Momo.' }],
  },
  qa: [
    { question: 'What pet did Ann adopt?', answer: 'a cat', evidence: ['D1:1; D2:1'], category: 4 },
    { question: 'When did Ann adopt the cat?', answer: 'the week before 8 May 2023', evidence: ['D1:1', 'D9:9'], category: 2 },
    { question: 'What did Bo adopt?', adversarial_answer: 'a cat', evidence: [], category: 5 },
  ],
});

test('loads turns, dates and evidence the way the benchmark needs them', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'locomo-'));
  try {
    const file = path.join(dir, 'locomo10.json');
    fs.writeFileSync(file, JSON.stringify([sample('conv-a'), sample('conv-b')]));
    const ds = loadLocomo(file);
    expect(ds.turns).toHaveLength(6);
    expect(ds.turns[1]).toMatchObject({ id: 'conv-a/D1:2', date: '1:56 pm on 8 May, 2023', text: 'Look at this! [shares a photo: a photo of a red bicycle]' });
    expect(ds.turns[2]).toMatchObject({ id: 'conv-a/D2:1', session: 'conv-a/S2', position: 2, date: '2:00 pm on 15 May, 2023' });
    expect(ds.questions.filter((q) => q.conversation === 'conv-a')).toEqual([
      { id: 'conv-a/q0', conversation: 'conv-a', question: 'What pet did Ann adopt?', category: 'single-hop', evidence: ['conv-a/D1:1', 'conv-a/D2:1'] },
      { id: 'conv-a/q1', conversation: 'conv-a', question: 'When did Ann adopt the cat?', category: 'temporal', evidence: ['conv-a/D1:1'] },
    ]);
    expect(ds.questions.filter((q) => ds.tuneSplit(q)).every((q) => q.conversation === 'conv-a')).toBe(true);
    expect(loadLocomo(file, 1).conversations).toEqual(['conv-a']);
    expect(() => loadLocomo(path.join(dir, 'missing.json'))).toThrow();
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"x": 1}');
    expect(() => loadLocomo(path.join(dir, 'bad.json'))).toThrow(/not LoCoMo/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('turn-level recall counts the share of evidence turns found; any-hit needs one', () => {
  const qs = [{ id: 'q', conversation: 'c', question: '', category: 'x', evidence: ['a', 'b'] }];
  const m = metrics(qs, new Map([['q', ['z', 'a', 'y', 'x', 'w', 'b']]]));
  expect(m.recall[1]).toBe(0);
  expect(m.recall[5]).toBe(0.5);
  expect(m.recall[10]).toBe(1);
  expect(m.anyHit5).toBe(1);
});

test('plain BM25 ranks the document with the rarer query term first', () => {
  const bm = new PlainBm25([
    { id: '1', text: 'the cat sat on the mat' },
    { id: '2', text: 'the dog sat on the log' },
    { id: '3', text: 'a cat and a dog' },
  ]);
  expect(bm.search('mat cat', 3)[0]).toBe('1');
  expect(bm.search('unrelated', 3)).toEqual([]);
});
