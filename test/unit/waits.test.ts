/** The pure rules of the built-in waits: which events a session keeps, which a wait takes, what operators read. */
import { LIMITS } from '../../workflows/limits';
import { waitingDetails } from '../../workflows/session/status';
import { acceptEvent, EVENT_IDS_KEPT, humanDuration, takeEvent, unlistedEvents } from '../../workflows/session/waits';
import type { SessionState } from '../../workflows/types';

const fresh = (): SessionState => ({ events: undefined } as unknown as SessionState);
const now = new Date('2030-01-01T00:00:00.000Z');

test('events the agent lists are kept in order and taken first come, first served, by name', () => {
  const st = fresh();
  expect(acceptEvent(st, ['paid', 'signed'], { name: 'paid', payload: 1 }, now)).toBeUndefined();
  expect(acceptEvent(st, ['paid', 'signed'], { name: 'signed' }, now)).toBeUndefined();
  expect(acceptEvent(st, ['paid', 'signed'], { name: 'paid', payload: 2 }, now)).toBeUndefined();
  expect(takeEvent(st, 'paid')?.payload).toBe(1);
  expect(takeEvent(st, 'paid')?.payload).toBe(2);
  expect(takeEvent(st, 'paid')).toBeUndefined();
  expect(st.events?.map((e) => e.name)).toEqual(['signed']);
});

test('an unlisted event is refused naming the list; a known id is ignored; the buffer is bounded', () => {
  const st = fresh();
  expect(acceptEvent(st, ['paid'], { name: 'refund' }, now)).toMatch(/event 'refund' is not one this agent waits for \(paid\); add it to the agent's waits.events/);
  expect(acceptEvent(st, [], { name: 'refund' }, now)).toMatch(/it waits for no events/);
  expect(acceptEvent(st, ['paid'], { name: 'paid', id: 'x' }, now)).toBeUndefined();
  expect(acceptEvent(st, ['paid'], { name: 'paid', id: 'x' }, now)).toBeUndefined();
  expect(st.events).toHaveLength(1);
  for (let i = 1; i < LIMITS.bufferedEvents; i++) expect(acceptEvent(st, ['paid'], { name: 'paid' }, now)).toBeUndefined();
  expect(acceptEvent(st, ['paid'], { name: 'paid' }, now)).toMatch(/at most 20/);
  for (let i = 0; i < EVENT_IDS_KEPT + 10; i++) {
    takeEvent(st, 'paid');
    acceptEvent(st, ['paid'], { name: 'paid', id: `id-${i}` }, now);
  }
  expect(st.eventIds).toHaveLength(EVENT_IDS_KEPT);
});

test('events that came before the spec was known are checked against it once it is', () => {
  const st = fresh();
  expect(acceptEvent(st, undefined, { name: 'paid' }, now)).toBeUndefined();
  expect(acceptEvent(st, undefined, { name: 'other' }, now)).toBeUndefined();
  expect(unlistedEvents(st, ['paid'])).toEqual([expect.stringMatching(/event 'other' is not one this agent waits for/)]);
  expect(st.events?.map((e) => e.name)).toEqual(['paid']);
});

test('durations and the Web UI line read as an operator would say them', () => {
  expect(humanDuration(90_000)).toBe('90s');
  expect(humanDuration(3 * 86400_000 + 4 * 3600_000)).toBe('3d 4h');
  expect(humanDuration(2 * 3600_000 + 5 * 60_000)).toBe('2h 5m');
  expect(waitingDetails([{ seq: 3, tool: 'wait_for_event', event: 'paid', since: 'a', until: '2030-01-02T00:00:00.000Z', reason: 'invoice 17' }])).toBe(
    "Waiting for event 'paid' until 2030-01-02T00:00:00.000Z (invoice 17)",
  );
  expect(waitingDetails([{ seq: 3, tool: 'wait', since: 'a', until: 'b' }])).toBe('Waiting on a timer until b');
});
