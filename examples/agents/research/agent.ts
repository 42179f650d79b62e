/**
 * The research agent: studies a question with the source library in `corpus/` (home energy
 * retrofits), notes intermediate findings with their sources in long-term memory, and answers with
 * citations. In a later session the runtime recalls those notes, so a follow-up question can be
 * answered from memory instead of re-reading the sources.
 */
import { z } from 'zod';
import { defineAgent, defineTool, type AgentDefinition, type ToolContext } from 'agent-runtime';
import { memoryTools, type MemoryStore } from 'agent-runtime/memory';
import { readSource, searchCorpus } from './corpus';

export const RESEARCH_AGENT_NAME = 'research-assistant';

/** Where the agent's notes live: the user's memory when the session has a user, else the session's. */
export function researchNamespace(ctx: Pick<ToolContext, 'userId' | 'sessionId'>): string {
  return ctx.userId ? `user/${ctx.userId}` : `session/${ctx.sessionId}`;
}

const SourceId = z.string().min(1).max(64).describe('A source id from search_sources, like src-07.');

export const searchSourcesTool = defineTool({
  name: 'search_sources',
  description:
    'Search the source library (studies, reports and notices on home energy retrofits: heat pumps, insulation, solar and ' +
    'batteries, tariffs, embodied carbon, subsidies). Returns the best-matching sources, best first, with a snippet each.',
  input: z.object({
    query: z.string().min(1).max(500).describe('What to look for, in plain words.'),
    k: z.number().int().min(1).max(10).optional().describe('How many sources to return; default 5.'),
  }),
  effects: 'read',
  run: ({ query, k }) => ({ query, hits: searchCorpus(query, k ?? 5) }),
});

export const readSourceTool = defineTool({
  name: 'read_source',
  description: 'Read the full text of one source by id (from search_sources). The text starts with its publication date.',
  input: z.object({ id: SourceId }),
  effects: 'read',
  run: ({ id }) => readSource(id),
});

/** The stored text: the finding, followed by its sources unless it already names them all. */
export function findingText(finding: string, sourceIds: string[]): string {
  const text = finding.trim();
  return sourceIds.every((id) => text.includes(id)) ? text : `${text} (sources: ${sourceIds.join(', ')})`;
}

export function noteFindingTool(memory: MemoryStore) {
  return defineTool({
    name: 'note_finding',
    description:
      'Save one intermediate finding to long-term memory, with the ids of the sources it comes from. ' +
      'One specific, self-contained statement per call (figures, dates, who found it). Returns the id of the note.',
    input: z.object({
      finding: z.string().min(1).max(2000).describe('The finding, self-contained: a later session will see only this text.'),
      sourceIds: z.array(SourceId).min(1).max(10).describe('Ids of the sources that support the finding.'),
    }),
    // A durable effect outside the session, deduplicated by ctx.idempotencyKey, so a retry is safe.
    effects: 'write',
    maxAttempts: 3,
    async run({ finding, sourceIds }, ctx) {
      const ids = [...new Set(sourceIds.map((id) => readSource(id).id))]; // unknown ids fail with a clear error
      const record = await memory.write({
        namespace: researchNamespace(ctx),
        kind: 'note',
        text: findingText(finding, ids),
        provenance: { sessionId: ctx.sessionId, step: ctx.seq, toolCallId: ctx.toolCallId },
        metadata: { sourceIds: ids },
        idempotencyKey: ctx.idempotencyKey,
      });
      return { id: record.id, namespace: record.namespace, text: record.text, sourceIds: ids };
    },
  });
}

export const RESEARCH_INSTRUCTIONS = [
  'You are a research assistant for questions about home energy retrofits (heat pumps, insulation, solar and batteries,',
  'grid tariffs, embodied carbon, subsidies). You work only from the source library, never from general knowledge.',
  '',
  'How to work:',
  '1. If a system message lists relevant memories from earlier sessions and they answer the question, answer from them',
  '   directly: cite each memory you use by its id in brackets, e.g. [mem-id], together with the source ids it names.',
  '   Do not search for or re-read sources that those memories already cover.',
  '2. Otherwise, search the library with search_sources and read the most relevant sources (usually 3 to 5) with',
  '   read_source; several reads can go in one turn.',
  '3. For each source that matters, call note_finding with one specific finding (figures, dates, who found it) and',
  '   the ids of the sources it comes from. Notes are kept for later sessions, so make each one self-contained.',
  '4. Answer with the findings, citing source ids in brackets, e.g. [src-07]. Sources are dated: when they disagree,',
  '   say so and prefer the most recent one, explaining what changed.',
  'Use remember for durable facts about the user (preferences, their house) and recall to look up earlier work.',
].join('\n');

export function researchAgent(memory: MemoryStore): AgentDefinition {
  const [remember, recall] = memoryTools(memory, { defaultNamespace: researchNamespace }).filter(
    (t) => t.name === 'remember' || t.name === 'recall',
  );
  return defineAgent({
    name: RESEARCH_AGENT_NAME,
    instructions: RESEARCH_INSTRUCTIONS,
    tools: [searchSourcesTool, readSourceTool, noteFindingTool(memory), remember!, recall!],
    budget: { maxSteps: 30 },
    // Recall the user's earlier findings at start, summarise into an episode at the end, compact long studies.
    memory: { recall: 5, summarizeAtEnd: true, contextBudgetTokens: 24_000 },
  });
}
