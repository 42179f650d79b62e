/**
 * Activity calls as a session's history records them: regular activities (scheduled events) and local
 * activities (core's `core_local_activity` markers), so tests read the same facts whichever shape a
 * step has.
 */
import type { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export interface ActivityCall {
  type: string;
  local: boolean;
  /** Index of the event in the history (scheduled event, or the marker). */
  eventIndex: number;
  summary?: string;
  /** The workflow task that scheduled it (regular) or recorded it (local). */
  workflowTaskCompletedEventId: string;
  /** Local activities: the attempt that produced the recorded outcome. */
  attempt?: number;
  /** Local activities: whether the marker records a failure. */
  failed?: boolean;
}

function summaryOf(e: HistoryEvent): string | undefined {
  const data = e.userMetadata?.summary?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as string) : undefined;
}

export function activityCalls(history: { events?: HistoryEvent[] | null }): ActivityCall[] {
  return (history.events ?? []).flatMap((e, eventIndex): ActivityCall[] => {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const summary = summaryOf(e);
      return [{
        type: scheduled.activityType?.name ?? '',
        local: false,
        eventIndex,
        ...(summary ? { summary } : {}),
        workflowTaskCompletedEventId: String(scheduled.workflowTaskCompletedEventId),
      }];
    }
    const marker = e.markerRecordedEventAttributes;
    if (marker?.markerName === 'core_local_activity') {
      const data = marker.details?.data?.payloads?.[0]?.data;
      const info = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string; attempt: number }) : { activity_type: '', attempt: 0 };
      const summary = summaryOf(e);
      return [{
        type: info.activity_type,
        local: true,
        eventIndex,
        ...(summary ? { summary } : {}),
        workflowTaskCompletedEventId: String(marker.workflowTaskCompletedEventId),
        attempt: info.attempt,
        failed: Boolean(marker.failure),
      }];
    }
    return [];
  });
}
