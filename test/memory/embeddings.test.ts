/**
 * The local embedding server (scripts/embeddings/server.py, all-MiniLM-L6-v2 run with numpy) over real
 * HTTP, checked against values computed independently of this code:
 *  - the similarity matrix sentence-transformers publishes for this model in its quickstart
 *    ("The weather is lovely today." / "It's so sunny outside!" / "He drove to the stadium.":
 *    0.6660, 0.1046, 0.1411), computed there with PyTorch;
 *  - the BERT uncased WordPiece ids of "hello world" ([CLS] 7592 2088 [SEP]) via the usage count;
 *  - similarity orderings with clear margins;
 * and then a real hybrid store finding a paraphrase that lexical search cannot.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteMemoryStore, startLocalEmbeddingServer, type LocalEmbeddingServer } from '../../memory';
import { cosine } from '../../memory/query';

let server: LocalEmbeddingServer;
let dir: string;

beforeAll(async () => {
  server = await startLocalEmbeddingServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memory-emb-'));
}, 600_000);

afterAll(async () => {
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const WEATHER = ['The weather is lovely today.', "It's so sunny outside!", 'He drove to the stadium.'];

test('matches the similarities sentence-transformers publishes for all-MiniLM-L6-v2', async () => {
  const v = await server.embed(WEATHER);
  expect(v).toHaveLength(3);
  for (const x of v) {
    expect(x).toHaveLength(384);
    expect(Math.hypot(...x)).toBeCloseTo(1, 5); // L2-normalised, as the model's Normalize module does
  }
  expect(cosine(v[0], v[1])!).toBeCloseTo(0.666, 3);
  expect(cosine(v[0], v[2])!).toBeCloseTo(0.1046, 3);
  expect(cosine(v[1], v[2])!).toBeCloseTo(0.1411, 3);
});

test('base64 (what the openai client asks for) and float encodings carry the same vector; usage counts WordPiece tokens', async () => {
  const viaClient = (await server.embed(['hello world']))[0];
  const res = await fetch(`${server.baseURL}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: server.model, input: 'hello world', encoding_format: 'float' }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: Array<{ embedding: number[]; index: number }>; usage: { prompt_tokens: number } };
  expect(body.usage.prompt_tokens).toBe(4); // [CLS] hello world [SEP]
  body.data[0].embedding.forEach((x, i) => expect(x).toBeCloseTo(viaClient[i], 6));
});

test('rejects bad requests with a clear error', async () => {
  const res = await fetch(`${server.baseURL}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: [] }) });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/input must be/);
});

test('orders meanings with clear margins; batch results equal single results', async () => {
  const [q, near, far] = await server.embed(['How do I cook pasta?', 'Boil the spaghetti in salted water for ten minutes.', 'The quarterly tax return is due in April.']);
  expect(cosine(q, near)! - cosine(q, far)!).toBeGreaterThan(0.2);
  const single = (await server.embed(['Boil the spaghetti in salted water for ten minutes.']))[0];
  single.forEach((x, i) => expect(x).toBeCloseTo(near[i], 5));
});

test('a hybrid store with the local model finds a paraphrase that lexical search misses', async () => {
  const notes = [
    'Caroline adopted a kitten from the animal shelter last spring.',
    'The team moved the release to the second week of March.',
    'Melanie signed up for a pottery class at the community centre.',
  ];
  const input = (text: string) => ({ namespace: 'user/u1', text, provenance: { sessionId: 's1' } });
  const lexical = await SqliteMemoryStore.open({ path: path.join(dir, 'lex.sqlite'), synchronous: 'NORMAL' });
  const hybrid = await SqliteMemoryStore.open({ path: path.join(dir, 'hyb.sqlite'), synchronous: 'NORMAL', embed: server.embed });
  try {
    await lexical.writeMany(notes.map(input));
    await hybrid.writeMany(notes.map(input));
    const query = 'Which pet did she get?';
    expect((await lexical.search({ query, namespace: 'user/u1' })).map((h) => h.record.text)).not.toContain(notes[0]);
    const hits = await hybrid.search({ query, namespace: 'user/u1', k: 1 });
    expect(hits[0].record.text).toBe(notes[0]);
    expect(hits[0].similarity).toBeGreaterThan(0.2);
  } finally {
    await lexical.close();
    await hybrid.close();
  }
});
