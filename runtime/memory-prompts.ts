/**
 * The texts the runtime puts in front of the model for automatic memory. Shared by the workflow's
 * activities and the scripted model server's scripts (which recognise them, as a model would).
 */
export const MEMORY_CONTEXT_HEADER = 'Relevant memories from earlier sessions (recalled automatically; cite them by id):';

export interface RecalledMemory {
  id: string;
  kind: string;
  namespace: string;
  text: string;
  sessionId: string;
  step?: number;
}

/** One line per memory: `- [<id>] (<kind>, session <sessionId> step <n>) <text>` */
export function memoryContextMessage(memories: RecalledMemory[]): string {
  return [
    MEMORY_CONTEXT_HEADER,
    ...memories.map((m) => `- [${m.id}] (${m.kind}, session ${m.sessionId}${m.step !== undefined ? ` step ${m.step}` : ''}) ${m.text}`),
  ].join('\n');
}

/** System prompt of the end-of-session summary call. The answer must be JSON: {"episode": string, "facts": string[]}. */
export const SESSION_SUMMARY_INSTRUCTIONS =
  'MEMORY SUMMARY TASK. Read the conversation below and answer with JSON only: ' +
  '{"episode": "<3-6 sentences: what was asked, what was done, what was concluded>", ' +
  '"facts": ["<a durable, self-contained fact or finding worth remembering in later sessions>", ...]}';

/** System prompt of the context-compaction call. The answer is plain text. */
export const COMPACTION_INSTRUCTIONS =
  'CONTEXT COMPACTION TASK. Summarise the conversation below so that it can replace it in the context of a ' +
  'long-running agent: keep the goal, decisions, findings with their sources, open questions and next steps. Plain text.';

/** Prefix of the summary message that stands in for compacted turns. */
export const COMPACTED_CONTEXT_HEADER = 'Summary of the earlier part of this session (the full messages are kept in the session store):';
