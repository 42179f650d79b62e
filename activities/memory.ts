/**
 * Automatic memory: recall at session start, an episode summary with extracted facts at session
 * end, and compaction of long contexts. Every write carries provenance (session, run, step) and an
 * idempotency key, so retries and replays never duplicate a memory.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { MemoryStore } from '../memory';
import type { AgentRegistry } from '../runtime/agent';
import {
  COMPACTED_CONTEXT_HEADER,
  COMPACTION_INSTRUCTIONS,
  memoryContextMessage,
  SESSION_SUMMARY_INSTRUCTIONS,
  type RecalledMemory,
} from '../runtime/memory-prompts';
import type { NewMessage, SessionStore, StoredMessage } from '../runtime/store';
import type { TokenUsage } from '../workflows/types';
import { toModelMessage } from '../runtime/model/messages';
import type { ModelProvider, ModelReply } from '../runtime/model/provider';
import { callProvider } from './model';

export interface MemoryActivityDeps {
  registry: AgentRegistry;
  store: SessionStore;
  memory: MemoryStore;
  model: ModelProvider;
  defaultModel: string;
}

/** Where a session's long-term memories live: the user's namespace when there is a user, else the agent's. */
export function homeNamespace(agent: string, userId?: string): string {
  return userId ? `user/${userId}` : `agent/${agent}`;
}

const SummaryAnswer = z.object({ episode: z.string().min(1), facts: z.array(z.string().min(1)).max(20).default([]) });

function usageOf(r: ModelReply): TokenUsage {
  return r.usage;
}

/** The conversation as plain text for a summarising model call (tool results shortened). */
function transcriptText(messages: StoredMessage[]): string {
  return messages
    .map((m) => {
      const msg = toModelMessage(m.message);
      const content = msg.content ?? '';
      const calls = (msg.role === 'assistant' ? msg.toolCalls ?? [] : []).map((c) => ` [calls ${c.name}(${c.arguments.slice(0, 300)})]`).join('');
      const text = msg.role === 'tool' ? content.slice(0, 1500) : content;
      return `#${m.seq} ${msg.role}: ${text}${calls}`;
    })
    .join('\n');
}

async function complete(deps: MemoryActivityDeps, model: string, instructions: string, text: string): Promise<ModelReply> {
  return callProvider(deps.model, { model, messages: [{ role: 'system', content: instructions }, { role: 'user', content: text }] });
}

export function createMemoryActivities(deps: MemoryActivityDeps) {
  return {
    /** Memories most relevant to the task, from the user's and the agent's namespaces, as one context message. */
    async recallMemories(input: { agent: string; userId?: string; query: string; k: number }): Promise<{ text: string; memories: RecalledMemory[] }> {
      const namespaces = [...new Set([homeNamespace(input.agent, input.userId), `agent/${input.agent}`])];
      const hits = await deps.memory.search({ query: input.query, k: input.k, namespace: namespaces });
      const memories = hits.map(({ record: r }) => ({
        id: r.id,
        kind: r.kind,
        namespace: r.namespace,
        text: r.text,
        sessionId: r.provenance.sessionId,
        ...(r.provenance.step !== undefined ? { step: r.provenance.step } : {}),
      }));
      return { memories, text: memories.length ? memoryContextMessage(memories) : '' };
    },

    /**
     * End of session: a model call writes an episode summary and the durable facts it found, with
     * provenance. The episode is derived from the notes the session wrote, so forgetting them forgets it.
     */
    async summarizeSession(input: { sessionId: string; runId: string; agent: string; userId?: string; step: number; model: string }): Promise<{ episodeId: string; factIds: string[]; usage: TokenUsage }> {
      const messages = await deps.store.list(input.sessionId);
      const response = await complete(deps, input.model, SESSION_SUMMARY_INSTRUCTIONS, transcriptText(messages));
      const raw = response.content ?? '';
      let answer: z.infer<typeof SummaryAnswer>;
      try {
        answer = SummaryAnswer.parse(JSON.parse(raw.replace(/^```(json)?|```$/g, '').trim()));
      } catch (err) {
        // A model that does not follow the format gets a plain-text episode rather than failing the session.
        answer = { episode: raw.trim() || 'no summary produced', facts: [] };
        Context.current().log.warn('session summary was not the requested JSON', { error: String(err) });
      }
      const namespace = homeNamespace(input.agent, input.userId);
      const provenance = { sessionId: input.sessionId, runId: input.runId, step: input.step };
      const ownNotes = (await deps.memory.list(namespace, { kinds: ['note', 'fact', 'preference'] })).filter(
        (r) => r.provenance.sessionId === input.sessionId,
      );
      const facts = await Promise.all(
        answer.facts.map((text, i) =>
          deps.memory.write({ namespace, kind: 'fact', text, provenance, derivedFrom: ownNotes.map((r) => r.id), idempotencyKey: `${input.sessionId}:summary:fact:${i}` }),
        ),
      );
      const episode = await deps.memory.write({
        namespace,
        kind: 'episode',
        text: answer.episode,
        provenance,
        metadata: { agent: input.agent, facts: facts.map((f) => f.id) },
        derivedFrom: ownNotes.map((r) => r.id),
        idempotencyKey: `${input.sessionId}:summary:episode`,
      });
      return { episodeId: episode.id, factIds: facts.map((f) => f.id), usage: usageOf(response) };
    },

    /**
     * Compaction: the turns in [contextFrom, boundary) are summarised by the model; the summary is stored
     * as a session message at `summarySeq` and stands in for them. The originals stay in the session store
     * and are indexed in the memory store (namespace session/<id>) so they remain searchable.
     */
    async compactContext(input: {
      sessionId: string;
      runId: string;
      agent: string;
      model: string;
      contextFrom: number;
      beforeSeq: number;
      summarySeq: number;
      previousSummarySeq?: number;
      keepRecent: number;
      /** Messages the workflow created that are not stored yet. */
      pending?: NewMessage[];
    }): Promise<{ contextFrom: number; summarySeq: number; usage: TokenUsage; preview: string } | null> {
      if (input.pending?.length) await deps.store.append(input.sessionId, input.pending);
      const done = await deps.store.get(input.sessionId, input.summarySeq);
      if (done?.meta?.compaction) return done.meta.compaction as { contextFrom: number; summarySeq: number; usage: TokenUsage; preview: string };

      const all = await deps.store.list(input.sessionId, { beforeSeq: input.beforeSeq });
      const candidates = all.filter((m) => m.seq >= input.contextFrom && !m.meta?.pinned && m.meta?.kind !== 'summary');
      // Keep the most recent messages; never start the kept part with a tool result (its call would be cut off).
      let cut = Math.max(0, candidates.length - input.keepRecent);
      while (cut > 0 && cut < candidates.length && candidates[cut].message.role === 'tool') cut--;
      if (cut === 0) return null;
      const compacted = candidates.slice(0, cut);
      const boundary = candidates[cut]?.seq ?? input.beforeSeq;
      const previous = input.previousSummarySeq !== undefined ? all.find((m) => m.seq === input.previousSummarySeq) : undefined;
      const text = [previous ? `Earlier summary: ${String(previous.message.content)}` : '', transcriptText(compacted)].filter(Boolean).join('\n');
      const response = await complete(deps, input.model, COMPACTION_INSTRUCTIONS, text);
      const summary = response.content?.trim();
      if (!summary) throw ApplicationFailure.retryable('compaction produced an empty summary');

      const originals = await deps.memory.writeMany(
        compacted.map((m) => ({
          namespace: `session/${input.sessionId}`,
          kind: 'note' as const,
          text: transcriptText([m]).slice(0, 8000),
          provenance: { sessionId: input.sessionId, runId: input.runId, step: m.seq },
          metadata: { compactedMessage: true, seq: m.seq, role: String(m.message.role) },
          idempotencyKey: `${input.sessionId}:message:${m.seq}`,
        })),
      );
      await deps.memory.write({
        namespace: `session/${input.sessionId}`,
        kind: 'summary',
        text: summary,
        provenance: { sessionId: input.sessionId, runId: input.runId, step: input.summarySeq },
        metadata: { covers: [compacted[0].seq, compacted[compacted.length - 1].seq] },
        derivedFrom: originals.map((r) => r.id),
        idempotencyKey: `${input.sessionId}:compaction:${input.summarySeq}`,
      });
      const result = { contextFrom: boundary, summarySeq: input.summarySeq, usage: usageOf(response), preview: summary.slice(0, 300) };
      await deps.store.append(input.sessionId, [
        {
          seq: input.summarySeq,
          message: { role: 'system', content: `${COMPACTED_CONTEXT_HEADER}\n${summary}` },
          meta: { kind: 'summary', compaction: result },
        },
      ]);
      return result;
    },
  };
}
