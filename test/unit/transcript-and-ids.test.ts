/** Pure modules the workflow and the edges share: transcript paging for the state query, session ids. */
import { assertSessionId, InvalidSessionIdError, SessionId } from '../../runtime/session-id';
import { LIMITS } from '../../workflows/limits';
import { sessionIdProblem } from '../../workflows/session-id';
import { pageTranscript } from '../../workflows/transcript';
import type { TranscriptEntry } from '../../workflows/types';

const entries = (n: number, text = 'x'): TranscriptEntry[] => Array.from({ length: n }, (_, seq) => ({ seq, role: 'user', text: `${text}${seq}` }));

describe('pageTranscript', () => {
  test('small transcripts come back whole, in seq order, even when given out of order', () => {
    const shuffled = [...entries(5)].reverse();
    expect(pageTranscript(shuffled, undefined)).toEqual({ transcript: entries(5) });
  });

  test('the newest entries are kept within the entry limit; the rest are counted as omitted', () => {
    const page = pageTranscript(entries(LIMITS.stateTranscriptEntries + 50), undefined);
    expect(page.transcript).toHaveLength(LIMITS.stateTranscriptEntries);
    expect(page.transcript[0].seq).toBe(50);
    expect(page.transcriptOmitted).toBe(50);
  });

  test('transcriptBefore and transcriptLimit page backwards; nonsense options fall back to the defaults', () => {
    const all = entries(30);
    expect(pageTranscript(all, { transcriptBefore: 10, transcriptLimit: 3 }).transcript.map((e) => e.seq)).toEqual([7, 8, 9]);
    expect(pageTranscript(all, { transcriptLimit: 0 }).transcript).toHaveLength(30); // 0: not given
    expect(pageTranscript(all, { transcriptLimit: -5 }).transcript).toHaveLength(1);
    expect(pageTranscript(all, { transcriptLimit: Number.NaN }).transcript).toHaveLength(30);
    expect(pageTranscript(all, { transcriptLimit: 10_000 }).transcript).toHaveLength(30);
  });

  test('the byte budget bounds the page; one entry over the budget is cut rather than failing the query', () => {
    const big = 'y'.repeat(LIMITS.stateTranscriptBytes / 4);
    const page = pageTranscript(entries(10, big), undefined);
    expect(JSON.stringify(page.transcript).length).toBeLessThanOrEqual(LIMITS.stateTranscriptBytes + 1000);
    expect(page.transcriptOmitted).toBe(10 - page.transcript.length);
    const huge: TranscriptEntry = { seq: 0, role: 'tool', text: 'z'.repeat(LIMITS.stateTranscriptBytes * 2), toolCalls: [{ id: 'c', name: 't', args: {} }] };
    const cut = pageTranscript([huge], undefined).transcript[0];
    expect(cut.text).toMatch(/… \[cut: see the session store\]$/);
    expect(cut.text!.length).toBeLessThan(2100);
    expect(cut.toolCalls).toBeUndefined();
  });
});

describe('session ids', () => {
  test.each(['a', 'A-1001', 'user@example.com:chat.1', 'x'.repeat(128)])('%s is accepted', (id) => {
    expect(sessionIdProblem(id)).toBeUndefined();
    expect(assertSessionId(id)).toBe(id);
    expect(SessionId.safeParse(id).success).toBe(true);
  });

  test.each(['', '.', '..', '-lead', 'a/b', 'a\\b', 'a b', 'a\u0000', 'cafe\u0301', 'x'.repeat(129)])('%j is refused with the grammar', (id) => {
    expect(sessionIdProblem(id)).toMatch(/session id/);
    expect(() => assertSessionId(id)).toThrow(InvalidSessionIdError);
    expect(SessionId.safeParse(id).success).toBe(false);
  });

  test('a problem never echoes more than 40 characters of the id', () => {
    expect(sessionIdProblem(`${'a'.repeat(60)}/`)).toContain(`"${'a'.repeat(40)}…"`);
    expect(sessionIdProblem(42)).toBe('session id must be a string, got number');
  });
});
