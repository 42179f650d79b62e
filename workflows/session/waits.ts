/**
 * The built-in `wait` and `wait_for_event` tools, carried out by the workflow itself (patch `waits-v1`):
 * a wait is a durable timer (a condition with a timeout, so ending the session interrupts it), visible in
 * the Web UI as a timer with a summary and in the current details; an event wait takes an external event
 * the session received (`eventSignal`), or times out. The model gets what happened as the tool result.
 * Nothing here calls an activity: a wait of days costs a timer and a few history events.
 */
import { condition } from '@temporalio/workflow';
import { LIMITS } from '../limits';
import type { ExternalEvent } from '../messages';
import type { ActiveWait, CheckedToolCall, ReceivedEvent, SessionState, TranscriptEntry } from '../types';
import { publish } from './publish';
import type { SessionRun } from './run';

/** Ids of recent events remembered for deduplication (a sender retrying with the same id is ignored). */
export const EVENT_IDS_KEPT = 100;

/** "3d 4h", "90s": durations as an operator reads them. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const parts: string[] = [];
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  return parts.join(' ') || `${s}s`;
}

/**
 * Why the session does not take this event, or undefined after it was buffered for a `wait_for_event`.
 * The event is already well-formed (checkExternalEvent); this checks it against the agent's policy.
 */
export function acceptEvent(state: SessionState, allowed: readonly string[] | undefined, event: ExternalEvent, now: Date): string | undefined {
  // `allowed` undefined: the agent's spec is not known yet (an event right after the start); the event
  // is kept and checked once it is (unlistedEvents).
  if (allowed && !allowed.includes(event.name)) {
    return `event '${event.name}' is not one this agent waits for (${allowed?.length ? allowed.join(', ') : 'it waits for no events'}); add it to the agent's waits.events`;
  }
  if (event.id !== undefined && state.eventIds?.includes(event.id)) return undefined; // a re-send: already taken or buffered
  const events = (state.events ??= []);
  if (events.length >= LIMITS.bufferedEvents) {
    return `event '${event.name}' refused: ${events.length} events are waiting to be taken by wait_for_event; at most ${LIMITS.bufferedEvents}`;
  }
  events.push({ name: event.name, ...(event.payload !== undefined ? { payload: event.payload } : {}), ...(event.id !== undefined ? { id: event.id } : {}), receivedAt: now.toISOString() });
  if (event.id !== undefined) {
    const ids = (state.eventIds ??= []);
    ids.push(event.id);
    if (ids.length > EVENT_IDS_KEPT) ids.shift();
  }
  return undefined;
}

/** Removes events the agent does not wait for (those that arrived before its spec was known); returns why, one per event. */
export function unlistedEvents(state: SessionState, allowed: readonly string[]): string[] {
  const refused = state.events?.filter((e) => !allowed.includes(e.name)) ?? [];
  if (refused.length) state.events = state.events!.filter((e) => allowed.includes(e.name));
  return refused.map((e) => `event '${e.name}' is not one this agent waits for (${allowed.length ? allowed.join(', ') : 'it waits for no events'}); add it to the agent's waits.events`);
}

/** Takes the oldest buffered event of that name (first come, first served). */
export function takeEvent(state: SessionState, name: string): ReceivedEvent | undefined {
  const i = state.events?.findIndex((e) => e.name === name) ?? -1;
  if (i < 0) return undefined;
  return state.events!.splice(i, 1)[0];
}

interface WaitArgs {
  seconds?: number;
  event?: string;
  timeoutSeconds?: number;
  reason?: string;
}

/**
 * Carries out a built-in call and writes its result under the call's seq. Arguments were checked on the
 * worker against the policy's schema; the bound is checked again here (a spec from a newer worker, a
 * replayed call) so no wait is ever longer than the policy allows.
 */
export async function runBuiltinWait(s: SessionRun, call: CheckedToolCall, seq: number, kind: 'wait' | 'wait_for_event', extra: Partial<TranscriptEntry>): Promise<void> {
  const { state } = s;
  const policy = s.spec!.waits;
  const args = (call.args ?? {}) as WaitArgs;
  const result = (text: string, ok: boolean): void => {
    s.ledger.toolNote(seq, call, text, { ...extra, ok });
  };
  if (!policy) return result(`Error: this agent has no waits policy; '${call.name}' cannot run`, false);
  const seconds = kind === 'wait' ? args.seconds : args.timeoutSeconds;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return result(`Error: '${call.name}' needs a positive number of seconds`, false);
  const ms = Math.min(seconds * 1000, policy.maxWaitMs);
  if (kind === 'wait_for_event' && (typeof args.event !== 'string' || !policy.events.includes(args.event))) {
    return result(`Error: '${String(args.event)}' is not an event this agent waits for (${policy.events.join(', ')})`, false);
  }
  const started = Date.now();
  const reason = typeof args.reason === 'string' ? args.reason : undefined;
  const active: ActiveWait = {
    seq,
    tool: kind,
    ...(kind === 'wait_for_event' ? { event: args.event } : {}),
    since: new Date(started).toISOString(),
    until: new Date(started + ms).toISOString(),
    ...(reason ? { reason } : {}),
  };
  (state.waiting ??= []).push(active);
  publish(s);
  try {
    if (kind === 'wait') {
      await condition(() => s.endRequested !== undefined, ms, { summary: `wait ${humanDuration(ms)}${reason ? `: ${reason}` : ''}` });
      const elapsed = Date.now() - started;
      if (s.endRequested) return result(`Wait interrupted after ${humanDuration(elapsed)}: the session is ending.`, false);
      return result(`Waited ${humanDuration(elapsed)} (${elapsed} ms); it is now ${new Date().toISOString()}.`, true);
    }
    const name = args.event!;
    let event = takeEvent(state, name);
    if (!event) {
      await condition(() => s.endRequested !== undefined || (state.events?.some((e) => e.name === name) ?? false), ms, {
        summary: `wait_for_event ${name} (timeout ${humanDuration(ms)})`,
      });
      event = takeEvent(state, name);
    }
    const elapsed = Date.now() - started;
    if (event) {
      const payload = event.payload === undefined ? 'no payload' : `payload: ${JSON.stringify(event.payload)}`;
      return result(`Event '${name}' received at ${event.receivedAt}${event.id ? ` (id ${event.id})` : ''} after ${humanDuration(elapsed)}; ${payload}`, true);
    }
    if (s.endRequested) return result(`Wait for '${name}' interrupted after ${humanDuration(elapsed)}: the session is ending.`, false);
    return result(`Timed out: no '${name}' event within ${humanDuration(ms)}.`, false);
  } finally {
    state.waiting = state.waiting?.filter((w) => w !== active);
    if (state.waiting?.length === 0) delete state.waiting;
    publish(s);
  }
}
