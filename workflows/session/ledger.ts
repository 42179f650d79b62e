/**
 * Sequence numbers and the messages the workflow itself creates. Every message of a session (model
 * turn, tool result, user input, error note) has one seq; the store keys messages by it. Messages the
 * workflow creates wait in `pending` until the next activity stores them. Pure: unit-tested.
 */
import type { PendingMessage, TranscriptEntry } from '../types';

export class Ledger {
  constructor(
    /** The next seq to hand out. */
    public nextSeq: number,
    /** Messages created by the workflow, not stored yet (the next model call or compaction stores them). */
    public readonly pending: PendingMessage[],
    /** The session's visible transcript (state query); entries are pushed, never rewritten. */
    private readonly transcript: TranscriptEntry[],
  ) {}

  /** Reserves the next seq (a model turn, a tool call, a summary). */
  take(): number {
    return this.nextSeq++;
  }

  /** A message the workflow created (instructions, user input, recalled memories): stored with the next activity. */
  addMessage(message: Record<string, unknown>, entry: Omit<TranscriptEntry, 'seq'>, meta?: Record<string, unknown>): number {
    const seq = this.take();
    this.pending.push({ seq, message, ...(meta ? { meta } : {}) });
    this.transcript.push({ seq, ...entry });
    return seq;
  }

  /** A tool result the workflow writes itself (error, rejection, expiry), under the call's own seq. */
  toolNote(seq: number, call: { id: string; name: string }, text: string, extra: Partial<TranscriptEntry> = {}): void {
    this.pending.push({ seq, message: { role: 'tool', toolCallId: call.id, content: text } });
    this.transcript.push({ seq, role: 'tool', toolCallId: call.id, tool: call.name, text, ok: false, ...extra });
  }

  /** Hands every pending message to the activity that stores them. */
  flush(): PendingMessage[] {
    return this.pending.splice(0);
  }

  /** Puts messages back after the activity that was to store them failed. */
  unflush(messages: PendingMessage[]): void {
    this.pending.unshift(...messages);
  }

  /** Parallel tool calls finish in any order; the store wants them in seq order. */
  sortPending(): void {
    this.pending.sort((a, b) => a.seq - b.seq);
  }
}
