/**
 * The research demo with hybrid memory search through the project's local embedding model (real
 * all-MiniLM-L6-v2 over HTTP, EMBEDDING_MODEL + EMBEDDING_BASE_URL as a deployment would set them):
 * notes are embedded when written, and session 2's automatic recall finds them through the fused
 * lexical + vector ranking and answers without re-reading the sources.
 */
import { FOLLOW_UP_QUESTION, RESEARCH_QUESTION, researchScript } from '../examples/agents/research/script';
import { LOCAL_EMBEDDING_MODEL, startLocalEmbeddingServer, type LocalEmbeddingServer } from '../memory';
import { sessionState, startSession } from '../client/sessions';
import { createHarness, type Harness } from './support/harness';

let h: Harness;
let embeddings: LocalEmbeddingServer;
let worker: Awaited<ReturnType<Harness['startWorker']>>;
beforeAll(async () => {
  embeddings = await startLocalEmbeddingServer();
  h = await createHarness(researchScript, { EMBEDDING_MODEL: LOCAL_EMBEDDING_MODEL, EMBEDDING_BASE_URL: embeddings.baseURL });
  worker = await h.startWorker();
}, 600_000);
afterAll(async () => {
  await h?.close();
  await embeddings?.stop();
});

test('session 2 recalls session 1 notes through hybrid search with the local model', async () => {
  expect(worker.memory.searchMode).toBe('hybrid');
  const userId = 'researcher-hybrid';
  const first = await startSession(h.client, { agent: 'research-assistant', task: RESEARCH_QUESTION, userId }, h.config);
  expect((await first.handle.result()).status).toBe('completed');
  // Nothing went to the scripted chat model's /embeddings: the vectors came from the local model.
  expect(h.model.embedded).toEqual([]);
  const notes = await worker.memory.list(`user/${userId}`, { kinds: ['note'] });
  expect(notes.length).toBeGreaterThanOrEqual(2);

  const second = await startSession(h.client, { agent: 'research-assistant', task: FOLLOW_UP_QUESTION, userId }, h.config);
  const r2 = await second.handle.result();
  const recalled = (await sessionState(h.client, second.sessionId)).memory?.recalled ?? [];
  const cited = notes.filter((n) => r2.finalAnswer!.includes(n.id));
  expect(cited.length).toBeGreaterThanOrEqual(2);
  expect(cited.every((n) => recalled.includes(n.id))).toBe(true);
  // The recall really was hybrid: the notes carry a cosine similarity from the model.
  const hits = await worker.memory.search({ query: FOLLOW_UP_QUESTION, namespace: `user/${userId}`, k: 10 });
  expect(hits.filter((x) => x.similarity !== null && x.similarity > 0.2).length).toBeGreaterThanOrEqual(2);
}, 600_000);
