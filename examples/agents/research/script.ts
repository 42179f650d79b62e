/**
 * The scripted model's behaviour for the research agent. Like a careful model, it reads only the
 * request it is sent (messages, tool calls, tool results) and keeps no hidden state, so its answers
 * are the same across retries and replays:
 *
 * - memory summary task  -> JSON {episode, facts} from the conversation (question, sources, findings);
 * - compaction task      -> a plain-text summary with the goal, sources and findings (ids kept);
 * - research conversation -> answer from recalled memories when they cover the question (no tool calls);
 *   otherwise search_sources, then read_source for the top 3 hits (parallel), then one note_finding per
 *   source read (parallel), then an answer citing the source ids.
 */
import {
  COMPACTED_CONTEXT_HEADER,
  COMPACTION_INSTRUCTIONS,
  MEMORY_CONTEXT_HEADER,
  SESSION_SUMMARY_INSTRUCTIONS,
  messageText,
  type ChatRequest,
  type ChatRequestMessage,
  type ScriptedTurn,
} from 'agent-runtime/testing';
import { publishedOf, sentences, stem, tokenize } from './corpus';

/** Session 1 of the demo: needs the field trial's interim and final reports and the installer audit. */
export const RESEARCH_QUESTION =
  'What seasonal COP did the Nordhavn heat pump field trial measure, and did the final report revise the interim result?';

/** Session 2 of the demo: answerable from the findings session 1 noted (recalled automatically). */
export const FOLLOW_UP_QUESTION =
  'Which seasonal COP should I expect from a heat pump in Nordhavn: the interim or the final field trial figure?';

/** Sources read per question. */
export const SOURCES_TO_READ = 3;

// ---------------------------------------------------------------------------------------------
// Reading the request

/** One tool call with its result (undefined while unanswered). */
interface Interaction {
  name: string;
  args: Record<string, unknown>;
  /** Raw argument text (may be cut short in a transcript). */
  argsText: string;
  /** Raw result text. */
  resultText?: string;
  result?: unknown;
  ok: boolean;
}

interface Entry {
  role: string;
  text: string;
  calls: Array<{ id?: string; name: string; args: string }>;
  toolCallId?: string;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function toEntries(messages: ChatRequestMessage[]): Entry[] {
  return messages.map((m) => ({
    role: m.role,
    text: messageText(m),
    calls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, args: c.function.arguments })),
    ...(m.tool_call_id ? { toolCallId: m.tool_call_id } : {}),
  }));
}

const TRANSCRIPT_LINE = /(?:^|\n)#(\d+) (\w+): /g;

/**
 * The runtime sends conversations to summarise as a transcript, one message per `#<seq> <role>: <text>`
 * (tool calls appended as ` [calls name(args)]`). Messages become entries again; anything before the
 * first marker (e.g. `Earlier summary: ...`) is returned as `preamble`.
 */
function parseTranscript(text: string): { preamble: string; entries: Entry[] } | undefined {
  const marks = [...text.matchAll(TRANSCRIPT_LINE)];
  if (marks.length === 0) return undefined;
  const entries = marks.map((m, i) => {
    const start = m.index! + m[0].length;
    const end = i + 1 < marks.length ? marks[i + 1]!.index! : text.length;
    const body = text.slice(start, end);
    const role = m[2]!;
    if (role !== 'assistant') return { role, text: body, calls: [] };
    const [content = '', ...rawCalls] = body.split(/ \[calls (?=[\w-]+\()/);
    const calls = rawCalls.map((c) => {
      const open = c.indexOf('(');
      return { name: c.slice(0, open), args: c.slice(open + 1).replace(/\)\]\s*$/, '') };
    });
    return { role, text: content, calls };
  });
  return { preamble: text.slice(0, marks[0]!.index!).trim(), entries };
}

/** Tool calls and their results. Results pair by tool_call_id, or (in transcripts) by order after the call. */
function interactions(entries: Entry[]): Interaction[] {
  const out: Interaction[] = [];
  const byId = new Map<string, Interaction>();
  const waiting: Interaction[] = [];
  for (const e of entries) {
    if (e.role === 'assistant') {
      waiting.length = 0;
      for (const c of e.calls) {
        const it: Interaction = { name: c.name, args: asRecord(parseJson(c.args)) ?? {}, argsText: c.args, ok: false };
        out.push(it);
        if (c.id) byId.set(c.id, it);
        else waiting.push(it);
      }
    } else if (e.role === 'tool') {
      const it = e.toolCallId ? byId.get(e.toolCallId) : waiting.shift();
      if (!it) continue;
      const value = parseJson(e.text);
      const rec = asRecord(value);
      it.resultText = e.text;
      it.result = value ?? e.text;
      // Errors come back as plain text (or an object with an error); truncated results stay usable as text.
      it.ok = rec ? !('error' in rec) : e.text.trim().startsWith('{');
    }
  }
  return out;
}

function isHeader(text: string): boolean {
  return text.startsWith(MEMORY_CONTEXT_HEADER) || text.startsWith(COMPACTED_CONTEXT_HEADER);
}

function lastUserIndex(entries: Entry[]): number {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.role === 'user' && !isHeader(entries[i]!.text)) return i;
  return -1;
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

const SRC_ID = /\bsrc-\d+\b/g;

/** Value of a JSON string field in (possibly truncated) JSON text. */
function jsonField(text: string, field: string): string | undefined {
  const m = new RegExp(`"${field}"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"`).exec(text);
  if (!m) return undefined;
  const decoded = parseJson(`"${m[1]}"`);
  return typeof decoded === 'string' ? decoded : m[1];
}

// ---------------------------------------------------------------------------------------------
// Research state, from tool interactions and a compaction summary

interface SourceRead {
  id: string;
  title: string;
  published?: string;
  text?: string;
}

interface Finding {
  finding: string;
  sourceIds: string[];
  /** Memory id of the note, when the tool answered. */
  noteId?: string;
}

interface ResearchState {
  searched: boolean;
  hits: string[];
  reads: SourceRead[];
  failedReads: string[];
  findings: Finding[];
}

function emptyState(): ResearchState {
  return { searched: false, hits: [], reads: [], failedReads: [], findings: [] };
}

function applyInteractions(state: ResearchState, list: Interaction[]): void {
  for (const it of list) {
    if (it.resultText === undefined) continue;
    if (it.name === 'search_sources') {
      state.searched = true;
      // Regex rather than JSON: transcripts cut long results short.
      if (it.ok) state.hits = unique([...it.resultText.matchAll(/"id"\s*:\s*"(src-\d+)"/g)].map((m) => m[1]!));
    } else if (it.name === 'read_source') {
      const rec = asRecord(it.result);
      const id = (typeof rec?.id === 'string' ? rec.id : undefined) ?? jsonField(it.resultText, 'id') ?? String(it.args.id ?? '');
      if (!it.ok || !/^src-\d+$/.test(id)) {
        state.failedReads.push(String(it.args.id ?? id));
        continue;
      }
      const text = typeof rec?.text === 'string' ? rec.text : undefined;
      const title = (typeof rec?.title === 'string' ? rec.title : undefined) ?? jsonField(it.resultText, 'title') ?? id;
      const published = publishedOf(text ?? it.resultText.replace(/\\n/g, '\n'));
      state.reads = state.reads.filter((r) => r.id !== id);
      state.reads.push({ id, title, ...(published ? { published } : {}), ...(text ? { text } : {}) });
    } else if (it.name === 'note_finding') {
      const rec = asRecord(it.result);
      const finding = (typeof it.args.finding === 'string' ? it.args.finding : undefined) ?? jsonField(it.argsText, 'finding') ?? jsonField(it.resultText, 'text');
      if (!finding) continue;
      const fromArgs = Array.isArray(it.args.sourceIds) ? it.args.sourceIds.map(String) : [];
      const sourceIds = unique(fromArgs.length ? fromArgs : [...`${it.argsText} ${it.resultText}`.matchAll(SRC_ID)].map((m) => m[0]));
      const noteId = it.ok ? (typeof rec?.id === 'string' ? rec.id : jsonField(it.resultText, 'id')) : undefined;
      state.findings.push({ finding, sourceIds, ...(noteId ? { noteId } : {}) });
    }
  }
}

// The compaction summary this script writes, and reads back when it stands in for earlier turns.
const GOAL = 'Goal: ';
const SEARCHED = 'Search results: ';
const READ = 'Sources read: ';
const FINDINGS = 'Findings noted:';

function compactionSummary(question: string, state: ResearchState, answered: string | undefined): string {
  const lines = [`${GOAL}${question || '(no question yet)'}`];
  if (state.searched) lines.push(`${SEARCHED}${state.hits.length ? state.hits.join(', ') : 'none'}`);
  if (state.reads.length) {
    lines.push(`${READ}${state.reads.map((r) => `${r.id} (${r.title}${r.published ? `, ${r.published}` : ''})`).join('; ')}`);
  }
  if (state.findings.length) {
    lines.push(FINDINGS, ...state.findings.map((f) => `- [${f.sourceIds.join(', ')}]${f.noteId ? ` {note ${f.noteId}}` : ''} ${f.finding}`));
  }
  if (answered) lines.push(`Decision: answered the question. ${answered}`);
  else if (state.findings.length) lines.push('Next step: answer the question from the findings, citing their sources.');
  else if (state.reads.length) lines.push('Next step: note one finding per source read, then answer.');
  else if (state.hits.length) lines.push(`Next step: read ${state.hits.slice(0, SOURCES_TO_READ).join(', ')}.`);
  else lines.push('Next step: search the source library.');
  lines.push('Open questions: none recorded.');
  return lines.join('\n');
}

function parseCompactionSummary(text: string): { question?: string; state: ResearchState } {
  const state = emptyState();
  let question: string | undefined;
  let inFindings = false;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line.startsWith(GOAL)) question = line.slice(GOAL.length).trim();
    else if (line.startsWith(SEARCHED)) {
      state.searched = true;
      state.hits = unique([...line.matchAll(SRC_ID)].map((m) => m[0]));
    } else if (line.startsWith(READ)) {
      state.reads = line
        .slice(READ.length)
        .split('; ')
        .flatMap((part) => {
          const m = /^(src-\d+) \((.*?)(?:, (\d{4}-\d{2}))?\)$/.exec(part.trim());
          return m ? [{ id: m[1]!, title: m[2]!, ...(m[3] ? { published: m[3] } : {}) }] : [];
        });
    } else if (line === FINDINGS) inFindings = true;
    else if (inFindings && line.startsWith('- [')) {
      const m = /^- \[([^\]]*)\](?: \{note ([^}]+)\})? (.*)$/.exec(line);
      if (m) state.findings.push({ sourceIds: unique([...m[1]!.matchAll(SRC_ID)].map((x) => x[0])), ...(m[2] ? { noteId: m[2] } : {}), finding: m[3]! });
    } else inFindings = false;
  }
  return { ...(question && question !== '(no question yet)' ? { question } : {}), state };
}

function mergeStates(base: ResearchState, later: ResearchState): ResearchState {
  return {
    searched: base.searched || later.searched,
    hits: later.hits.length ? later.hits : base.hits,
    reads: [...base.reads.filter((r) => !later.reads.some((l) => l.id === r.id)), ...later.reads],
    failedReads: unique([...base.failedReads, ...later.failedReads]),
    findings: [...base.findings, ...later.findings],
  };
}

// ---------------------------------------------------------------------------------------------
// Memories recalled by the runtime

export interface ContextMemory {
  id: string;
  kind: string;
  text: string;
}

/** Memories of `- [<id>] (<kind>, session <s> step <n>) <text>` lines in the memory context messages. */
export function parseMemoryContext(entries: Array<{ text: string }>): ContextMemory[] {
  const out: ContextMemory[] = [];
  for (const e of entries) {
    if (!e.text.startsWith(MEMORY_CONTEXT_HEADER)) continue;
    for (const line of e.text.slice(MEMORY_CONTEXT_HEADER.length).split('\n')) {
      const m = /^- \[([^\]]+)\] \(([^,)]+)[^)]*\) ?(.*)$/.exec(line);
      if (m) out.push({ id: m[1]!, kind: m[2]!.trim(), text: m[3]! });
      else if (out.length && line.trim()) out[out.length - 1]!.text += `\n${line}`;
    }
  }
  return out;
}

/** Words of a question that say how it is asked rather than what about. */
const CHAT_WORDS = new Set(
  ['tell', 'know', 'found', 'find', 'earlier', 'before', 'previous', 'previously', 'again', 'remind', 'recall', 'remember',
    'research', 'question', 'answer', 'based', 'please', 'expect', 'figure', 'number', 'value', 'use', 'trust', 'choose', 'want', 'like', 'say', 'said', 'get'].map(stem),
);

function questionTerms(question: string): string[] {
  const terms = unique(tokenize(question));
  const content = terms.filter((t) => !CHAT_WORDS.has(t));
  return content.length ? content : terms;
}

/**
 * Relevant memories (sharing at least two question words), best first; empty unless together they contain
 * at least `minCoverage` of the question's content words (so a question on a new aspect of a known topic,
 * like the cost of the same heat pump, is researched rather than answered from unrelated notes).
 */
export function coveringMemories(question: string, memories: ContextMemory[], minCoverage = 0.8): ContextMemory[] {
  const terms = questionTerms(question);
  if (terms.length === 0) return [];
  const need = Math.min(2, terms.length);
  const scored = memories
    .map((m, i) => {
      const words = new Set(tokenize(m.text));
      return { m, i, overlap: terms.filter((t) => words.has(t)) };
    })
    .filter((s) => s.overlap.length >= need)
    .sort((a, b) => b.overlap.length - a.overlap.length || a.i - b.i);
  const covered = new Set(scored.flatMap((s) => s.overlap));
  return covered.size >= need && covered.size / terms.length >= minCoverage ? scored.map((s) => s.m) : [];
}

const DATE_IN_TEXT = /\((\d{4}-\d{2})\)/;

/** The statement of a finding: without its `Title (date): ` prefix and `(sources: ...)` suffix. */
function statement(text: string): string {
  return text.replace(/^.*?\(\d{4}-\d{2}\):\s*/, '').replace(/\s*\(sources?: [^)]*\)\s*$/, '').trim();
}

function answerFromMemories(question: string, memories: ContextMemory[]): string {
  // Identical texts (a note and the fact the session summary made of it) become one bullet citing both ids.
  const groups: Array<{ text: string; kind: string; ids: string[] }> = [];
  for (const m of memories) {
    const text = m.text.replace(/\s*\n\s*/g, ' ').trim();
    const same = groups.find((g) => g.text === text);
    if (same) same.ids.push(m.id);
    else groups.push({ text, kind: m.kind, ids: [m.id] });
  }
  const used = [...groups.filter((g) => g.kind !== 'episode'), ...groups.filter((g) => g.kind === 'episode')].slice(0, 6);
  const cite = (g: { ids: string[] }) => g.ids.map((id) => `[${id}]`).join(' ');
  const srcOf = (text: string) => unique([...text.matchAll(SRC_ID)].map((x) => x[0]));
  const count = used.reduce((n, g) => n + g.ids.length, 0);
  const lines = [
    question,
    '',
    `From our earlier research (${count} recalled ${count === 1 ? 'memory' : 'memories'}; no sources re-read):`,
    ...used.map((g) => `- ${g.text} ${cite(g)}`),
  ];
  const dated = used
    .filter((g) => g.kind !== 'episode')
    .map((g) => ({ g, date: DATE_IN_TEXT.exec(g.text)?.[1] }))
    .filter((d): d is { g: (typeof used)[number]; date: string } => d.date !== undefined)
    .sort((a, b) => b.date.localeCompare(a.date));
  if (dated.length > 1 && dated[0]!.date !== dated[dated.length - 1]!.date) {
    const newest = dated[0]!;
    const older = dated.filter((d) => d.date < newest.date);
    lines.push(
      '',
      `Conclusion: go by the most recent evidence, ${cite(newest.g)} (${[...srcOf(newest.g.text), newest.date].join(', ')}): ` +
        `${statement(newest.g.text).replace(/\.$/, '')}. It supersedes the older ${older.length === 1 ? 'figure' : 'figures'} in ` +
        `${older.map((d) => `${cite(d.g)} (${[...srcOf(d.g.text), d.date].join(', ')})`).join(', ')} where they differ.`,
    );
  }
  const sources = unique(used.flatMap((g) => srcOf(g.text))).sort();
  if (sources.length) lines.push('', `Sources: ${sources.join(', ')}.`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The research steps

/** The sentence of a source that best answers the question: question words outside the sources' shared topic count most, measured values break ties. */
export function bestSentence(question: string, source: { title: string; text: string }, topicTitles: string[]): string {
  const terms = questionTerms(question);
  const topic = new Set(topicTitles.flatMap((t) => tokenize(t)));
  let best = '';
  let bestScore = -1;
  for (const s of sentences(source.text)) {
    const words = new Set(tokenize(s));
    let score = terms.reduce((n, t) => n + (words.has(t) ? (topic.has(t) ? 0.25 : 1) : 0), 0);
    if (/\d[.,]\d|\d\s?%|€\s?\d/.test(s)) score += 0.5;
    if (score > bestScore) [best, bestScore] = [s, score];
  }
  return best;
}

function label(r: SourceRead): string {
  return `${r.title}${r.published ? ` (${r.published})` : ''}`;
}

function finalAnswer(question: string, state: ResearchState): string {
  const cited = unique(state.findings.flatMap((f) => f.sourceIds));
  const reads = new Map(state.reads.map((r) => [r.id, r]));
  const lines = [question, '', `Findings from ${cited.length} ${cited.length === 1 ? 'source' : 'sources'}:`];
  for (const f of state.findings) lines.push(`- ${f.finding} [${f.sourceIds.join(', ')}]`);
  const dated = cited
    .map((id) => reads.get(id))
    .filter((r): r is SourceRead & { published: string } => !!r?.published)
    .sort((a, b) => b.published.localeCompare(a.published));
  if (dated.length > 1 && dated[0]!.published !== dated[dated.length - 1]!.published) {
    const [newest, ...older] = dated;
    const newestFinding = state.findings.find((f) => f.sourceIds.includes(newest!.id));
    lines.push(
      '',
      `Conclusion: the most recent source, ${newest!.id} (${newest!.title}, ${newest!.published}), takes precedence where the sources disagree` +
        `${newestFinding ? `: ${statement(newestFinding.finding).replace(/\.$/, '')}` : ''}. ` +
        `Older evidence: ${older.map((r) => `${r.id} (${r.published})`).join(', ')}.`,
    );
  } else if (cited.length) {
    lines.push('', `Conclusion: based on ${cited.join(', ')}.`);
  }
  lines.push('', `Sources: ${cited.map((id) => (reads.get(id) ? `${id} ${label(reads.get(id)!)}` : id)).join('; ')}.`);
  const notes = state.findings.flatMap((f) => (f.noteId ? [`[${f.noteId}]`] : []));
  if (notes.length) lines.push(`Findings saved to memory: ${notes.join(', ')}.`);
  if (state.failedReads.length) lines.push(`Could not read: ${unique(state.failedReads).join(', ')}.`);
  return lines.join('\n');
}

function researchTurn(req: ChatRequest): ScriptedTurn {
  const entries = toEntries(req.messages);
  const userIdx = lastUserIndex(entries);
  const compaction = [...entries].reverse().find((e) => e.text.startsWith(COMPACTED_CONTEXT_HEADER));
  const compacted = compaction ? parseCompactionSummary(compaction.text.slice(COMPACTED_CONTEXT_HEADER.length)) : undefined;
  const question = userIdx >= 0 ? entries[userIdx]!.text.trim() : compacted?.question ?? '';
  if (!question) return { content: 'What would you like me to research?' };

  const scope = userIdx >= 0 ? entries.slice(userIdx + 1) : entries;
  let state = emptyState();
  applyInteractions(state, interactions(scope));
  // A compaction summary of this question's earlier steps stands in for the messages it replaced.
  if (compacted && (userIdx < 0 || compacted.question === question)) state = mergeStates(compacted.state, state);

  const started = state.searched || state.reads.length > 0 || state.findings.length > 0 || state.failedReads.length > 0;
  if (!started) {
    const memories = coveringMemories(question, parseMemoryContext(entries));
    if (memories.length) return { content: answerFromMemories(question, memories) };
    return {
      content: 'Searching the source library.',
      toolCalls: [{ name: 'search_sources', arguments: { query: question, k: 5 } }],
    };
  }
  if (state.findings.length) return { content: finalAnswer(question, state) };

  const withText = state.reads.filter((r) => r.text);
  if (withText.length) {
    const titles = withText.map((r) => r.title);
    return {
      content: `Noting one finding from each of ${withText.map((r) => r.id).join(', ')}.`,
      toolCalls: withText.map((r) => ({
        name: 'note_finding',
        arguments: { finding: `${label(r)}: ${bestSentence(question, { title: r.title, text: r.text! }, titles)}`, sourceIds: [r.id] },
      })),
    };
  }
  // Sources known only from a compaction summary are read again (their text was compacted away).
  const toRead = state.reads.length ? state.reads.map((r) => r.id) : state.hits.filter((id) => !state.failedReads.includes(id)).slice(0, SOURCES_TO_READ);
  if (toRead.length && state.failedReads.length < SOURCES_TO_READ * 2) {
    return {
      content: `Reading ${toRead.join(', ')}.`,
      toolCalls: toRead.map((id) => ({ name: 'read_source', arguments: { id } })),
    };
  }
  return {
    content: state.failedReads.length
      ? `${question}\n\nI could not read the sources I found (${unique(state.failedReads).join(', ')}), so I cannot answer from the library.`
      : `${question}\n\nThe source library has nothing on this question, so I cannot answer it from sources.`,
  };
}

// ---------------------------------------------------------------------------------------------
// Memory tasks: session summary and compaction

/** The conversation a memory task is about: a transcript in the user message, or the messages themselves. */
function taskConversation(req: ChatRequest): { preamble: string; entries: Entry[] } {
  const rest = req.messages.slice(1);
  if (rest.length === 1 && rest[0]!.role === 'user') {
    const parsed = parseTranscript(messageText(rest[0]));
    if (parsed) return parsed;
  }
  return { preamble: '', entries: toEntries(rest) };
}

interface ConversationDigest {
  questions: string[];
  state: ResearchState;
  /** Memory ids cited in answers (memory-based answers). */
  citedMemories: string[];
  lastAnswer?: string;
}

function digest(entries: Entry[], preamble: string): ConversationDigest {
  const earlier = preamble ? parseCompactionSummary(preamble.replace(/^Earlier summary:\s*/, '').replace(COMPACTED_CONTEXT_HEADER, '')) : undefined;
  const compactions = entries.filter((e) => e.text.startsWith(COMPACTED_CONTEXT_HEADER)).map((e) => parseCompactionSummary(e.text.slice(COMPACTED_CONTEXT_HEADER.length)));
  let state = emptyState();
  for (const c of [earlier, ...compactions]) if (c) state = mergeStates(state, c.state);
  const fromMessages = emptyState();
  applyInteractions(fromMessages, interactions(entries));
  state = mergeStates(state, fromMessages);
  const questions = unique([
    ...[earlier, ...compactions].flatMap((c) => (c?.question ? [c.question] : [])),
    ...entries.filter((e) => e.role === 'user' && !isHeader(e.text)).map((e) => e.text.trim()),
  ]).filter(Boolean);
  const answers = entries.filter((e) => e.role === 'assistant' && e.calls.length === 0 && e.text.trim());
  const lastAnswer = answers[answers.length - 1]?.text.trim();
  const known = new Set(state.findings.flatMap((f) => (f.noteId ? [f.noteId] : [])));
  const citedMemories = unique(
    answers.flatMap((a) => [...a.text.matchAll(/\[([^\]\s,]+)\]/g)].map((m) => m[1]!)).filter((id) => !/^src-\d+$/.test(id) && !known.has(id)),
  );
  return { questions, state, citedMemories, ...(lastAnswer ? { lastAnswer } : {}) };
}

function conclusionOf(answer: string | undefined): string | undefined {
  if (!answer) return undefined;
  const line = answer.split('\n').find((l) => l.startsWith('Conclusion:'));
  return (line ?? answer.split('\n').find((l, i) => i > 0 && l.trim()) ?? answer).trim();
}

function sessionSummary(req: ChatRequest): string {
  const { preamble, entries } = taskConversation(req);
  const d = digest(entries, preamble);
  const asked = d.questions.length ? d.questions.join(' Then: ') : 'no question was asked.';
  const sentencesOut = [`The user asked: ${asked}`];
  const read = d.state.reads.map((r) => r.id);
  if (read.length || d.state.findings.length) {
    sentencesOut.push(
      `The assistant searched the source library${read.length ? `, read ${read.join(', ')}` : ''} and noted ${d.state.findings.length} ` +
        `${d.state.findings.length === 1 ? 'finding' : 'findings'}${d.state.findings.length ? ` citing ${unique(d.state.findings.flatMap((f) => f.sourceIds)).join(', ')}` : ''}.`,
    );
  } else if (d.citedMemories.length) {
    sentencesOut.push(`The assistant answered from memories of earlier sessions (${d.citedMemories.map((id) => `[${id}]`).join(', ')}) without reading sources again.`);
  }
  const conclusion = conclusionOf(d.lastAnswer);
  sentencesOut.push(conclusion ? `${conclusion.replace(/^Conclusion:\s*/, 'It concluded: ')}` : 'The session ended without a final answer.');
  const episode = sentencesOut.map((s) => (/[.!?]$/.test(s) ? s : `${s}.`)).join(' ');
  const facts = d.state.findings.map((f) => (f.sourceIds.every((id) => f.finding.includes(id)) ? f.finding : `${f.finding} (sources: ${f.sourceIds.join(', ')})`));
  return JSON.stringify({ episode, facts: unique(facts).slice(0, 20) });
}

function compactionTurn(req: ChatRequest): string {
  const { preamble, entries } = taskConversation(req);
  const d = digest(entries, preamble);
  return compactionSummary(d.questions[d.questions.length - 1] ?? '', d.state, conclusionOf(d.lastAnswer));
}

// ---------------------------------------------------------------------------------------------

export function researchScript(req: ChatRequest): ScriptedTurn {
  const first = req.messages.find((m) => m.role === 'system');
  const system = messageText(first);
  if (system.startsWith(SESSION_SUMMARY_INSTRUCTIONS)) return { content: sessionSummary(req) };
  if (system.startsWith(COMPACTION_INSTRUCTIONS)) return { content: compactionTurn(req) };
  return researchTurn(req);
}
