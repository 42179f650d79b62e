/**
 * The transcript as the state query shows it: newest entries first kept, in seq order, within a count
 * and a byte budget, so the answer stays far below gRPC's 4 MB message limit whatever the session holds.
 * Older entries are paged with `transcriptBefore`; every message is in the session store in full.
 */
import { LIMITS } from './limits';
import type { StateQueryOptions } from './messages';
import type { TranscriptEntry } from './types';

export interface TranscriptPage {
  transcript: TranscriptEntry[];
  /** Entries of this run left out of the page (older than the page, or over the byte budget). */
  transcriptOmitted?: number;
}

export function pageTranscript(entries: readonly TranscriptEntry[], opts: StateQueryOptions | undefined): TranscriptPage {
  const limit = Math.max(1, Math.min(LIMITS.stateTranscriptEntries, Math.floor(Number(opts?.transcriptLimit) || LIMITS.stateTranscriptEntries)));
  const before = Number.isFinite(opts?.transcriptBefore) ? Number(opts!.transcriptBefore) : Infinity;
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  const candidates = sorted.filter((e) => e.seq < before);
  const page: TranscriptEntry[] = [];
  let bytes = 0;
  for (let i = candidates.length - 1; i >= 0 && page.length < limit; i--) {
    const size = JSON.stringify(candidates[i]).length;
    if (bytes + size > LIMITS.stateTranscriptBytes && page.length > 0) break;
    // A single entry over the budget is cut rather than breaking the query.
    page.push(size > LIMITS.stateTranscriptBytes ? { ...candidates[i], text: `${(candidates[i].text ?? '').slice(0, 2000)}… [cut: see the session store]`, toolCalls: undefined } : candidates[i]);
    bytes += Math.min(size, LIMITS.stateTranscriptBytes);
  }
  page.reverse();
  const omitted = sorted.length - page.length;
  return { transcript: page, ...(omitted > 0 ? { transcriptOmitted: omitted } : {}) };
}
