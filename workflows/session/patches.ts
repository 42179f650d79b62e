/**
 * Patch ids of changes to what the session workflow does (see README, "Changing workflow code"). Each is
 * checked with patched() where the behaviour differs, so recorded sessions replay as they ran.
 */
/** The step shape with local model and tool calls. */
export const LOCAL_STEPS_PATCH = 'local-steps-v1';
/** The model is told when an approver edited the arguments of a call (the tool result starts with a note). */
export const EDITED_ARGS_PATCH = 'edited-args-told-v1';
/** A call of a tool approved for the session runs without asking (no approval wait). */
export const SESSION_GRANTS_PATCH = 'session-grants-v1';

/** Patch id: an approval request also schedules the notifier activity (sessions started before it do not). */
export const APPROVAL_NOTIFY_PATCH = 'approval-notify-v1';
/** A session started with a fork request begins as its parent's state at the fork point (session/fork.ts). */
export const FORK_PATCH = 'fork-v1';
/** Built-in `wait` / `wait_for_event` tools run in the workflow (a durable timer or a condition), no activity. */
export const WAITS_PATCH = 'waits-v1';
/**
 * Continuing as new is not a failure: before this, the catch-all in agentSession marked the closing run
 * 'failed' (search attribute, current details, its final state) just before every continue-as-new.
 */
export const CONTINUE_NOT_FAILED_PATCH = 'continue-not-failed-v1';
/**
 * A fork starts with its parent's approve-for-session grants and budget top-ups as of the fork point
 * (read by the fork's first activity); forks started before it start with none.
 */
export const FORK_STATE_PATCH = 'fork-state-v1';
/**
 * Sub-agents: a `delegate_to_<agent>` call starts a child session (a child workflow) and waits for it; a child
 * reports its approvals and its end to its parent; decisions for a child's approvals sent to the parent are
 * forwarded (session/delegate-call.ts).
 */
export const DELEGATION_PATCH = 'delegation-v1';
