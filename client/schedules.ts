/**
 * Recurring agents on Temporal Schedules: `scheduleAgent` creates a schedule whose every action starts an
 * `agentSession` (task mode) with a unique id (Temporal appends the action's time to the schedule's
 * workflow id), plus list / pause / unpause / trigger / delete. The schedule lives on the server: it keeps
 * firing with no client or worker up, and runs missed while workers were down start when they return.
 */
import type { Client, ScheduleHandle, ScheduleOverlapPolicy } from '@temporalio/client';
import { z } from 'zod';
import { agentSession } from '../workflows/agentSession';
import { LIMITS } from '../workflows/limits';
import { SESSION_ID_PATTERN } from '../workflows/session-id';
import { startSearchAttributes } from '../workflows/search-attributes';
import type { SessionInput } from '../workflows/types';

/** Temporal adds `-<RFC 3339 time>` (21 characters) to the schedule's workflow id; the whole must stay a session id (128). */
export const SCHEDULE_ID_MAX_LENGTH = 100;

const Options = z
  .object({
    agent: z.string().min(1, 'agent is required').max(100),
    task: z.string().refine((t) => t.trim().length > 0, 'task is empty').max(LIMITS.chatMessageChars),
    userId: z.string().min(1).max(LIMITS.identityChars).optional(),
    /** A cron expression ("0 9 * * MON-FRI"), in UTC unless `timezone` says otherwise. */
    cron: z.string().min(1).max(200).optional(),
    /** An interval: milliseconds, or a duration string ("1 day", "6h"). */
    every: z.union([z.number().int().min(1000, 'every must be at least 1000 ms'), z.string().min(1).max(50)]).optional(),
    timezone: z.string().min(1).max(100).optional(),
    scheduleId: z
      .string()
      .max(SCHEDULE_ID_MAX_LENGTH, `scheduleId must be at most ${SCHEDULE_ID_MAX_LENGTH} characters (each run's session id adds the time)`)
      .regex(SESSION_ID_PATTERN, 'scheduleId must be ASCII letters, digits and . _ : @ -, starting with a letter or digit')
      .optional(),
    taskQueue: z.string().min(1, 'taskQueue is required (the queue your agent worker polls)').max(200),
    /** What happens when a run is still going at the next time: 'SKIP' (default) starts none. */
    overlap: z.enum(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL']).optional(),
    paused: z.boolean().optional(),
    note: z.string().max(LIMITS.commentChars).optional(),
  })
  .strict()
  .refine((o) => (o.cron === undefined) !== (o.every === undefined), { message: 'give exactly one of cron or every', path: ['cron'] });

export type AgentScheduleOptions = z.input<typeof Options>;

/** A schedule of an agent as `listAgentSchedules` reports it. */
export interface AgentScheduleSummary {
  scheduleId: string;
  agent: string;
  task: string;
  paused: boolean;
  note?: string;
  nextRuns: Date[];
  /** Session ids of the latest runs, newest last. */
  recentSessions: string[];
}

/** Memo keys on the schedule: how `listAgentSchedules` tells agent schedules from others without describing each. */
const MEMO_KIND = 'agent-runtime/schedule';

/** Creates the schedule; returns its handle (describe, trigger, pause, update, delete). */
export async function scheduleAgent(client: Client, options: AgentScheduleOptions): Promise<ScheduleHandle> {
  const parsed = Options.safeParse(options);
  if (!parsed.success) throw new Error(`scheduleAgent: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`);
  const o = parsed.data;
  const scheduleId = o.scheduleId ?? `agent-${o.agent.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60)}-${Date.now().toString(36)}`;
  const input: SessionInput = { agent: o.agent, task: o.task, ...(o.userId ? { userId: o.userId } : {}) };
  const create = (withAttributes: boolean) =>
    client.schedule.create({
      scheduleId,
      spec: {
        ...(o.cron ? { cronExpressions: [o.cron] } : { intervals: [{ every: o.every! as never }] }),
        ...(o.timezone ? { timezone: o.timezone } : {}),
      },
      action: {
        type: 'startWorkflow',
        workflowType: agentSession,
        // Each action's workflow id is this plus the action time: a new session id every run.
        workflowId: scheduleId,
        taskQueue: o.taskQueue,
        args: [input],
        staticSummary: `scheduled ${scheduleId}: agent ${o.agent}: ${o.task.slice(0, 100)}`,
        memo: { pendingApprovals: null },
        ...(withAttributes ? { typedSearchAttributes: startSearchAttributes(input) } : {}),
      },
      policies: { overlap: (o.overlap ?? 'SKIP') as ScheduleOverlapPolicy, catchupWindow: '1 day' },
      state: { paused: o.paused ?? false, ...(o.note ? { note: o.note } : {}) },
      memo: { kind: MEMO_KIND, agent: o.agent, task: o.task.slice(0, 500) },
    });
  try {
    return await create(true);
  } catch (err) {
    // A server without the runtime's search attributes registered refuses them: schedule without (the
    // session upserts them itself when it can).
    if (/search attribute/i.test(String((err as Error).message) + String((err as { cause?: Error }).cause?.message ?? ''))) return create(false);
    throw err;
  }
}

/** The agent schedules in the namespace (those created by scheduleAgent). */
export async function listAgentSchedules(client: Client, opts: { agent?: string } = {}): Promise<AgentScheduleSummary[]> {
  const out: AgentScheduleSummary[] = [];
  for await (const s of client.schedule.list()) {
    const memo = s.memo as { kind?: string; agent?: string; task?: string } | undefined;
    if (memo?.kind !== MEMO_KIND || (opts.agent && memo.agent !== opts.agent)) continue;
    out.push({
      scheduleId: s.scheduleId,
      agent: memo.agent ?? '',
      task: memo.task ?? '',
      paused: s.state.paused,
      ...(s.state.note ? { note: s.state.note } : {}),
      nextRuns: s.info.nextActionTimes,
      recentSessions: s.info.recentActions.map((a) => a.action.workflow.workflowId),
    });
  }
  return out;
}

export async function pauseAgentSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function unpauseAgentSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}

/** Starts a run now, whatever the spec says (the overlap policy still applies). */
export async function triggerAgentSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).trigger();
}

/** Deletes the schedule; sessions it started keep running. */
export async function deleteAgentSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).delete();
}
