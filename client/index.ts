/** `agent-runtime/client`: start sessions, chat, approve, top up, end, read state, from your own Client. */
export {
  createSessionClient,
  connectClient,
  startSession,
  sendMessage,
  topUpBudget,
  endSession,
  sessionHandle,
  sessionState,
  pendingApprovals,
  signalApproval,
  decideApproval,
  waitForState,
  forkSession,
  resumeSession,
  sendEvent,
} from './sessions';
export { scheduleAgent, listAgentSchedules, pauseAgentSchedule, unpauseAgentSchedule, deleteAgentSchedule, triggerAgentSchedule } from './schedules';
export type { AgentScheduleOptions, AgentScheduleSummary } from './schedules';
export type { SessionClient, SessionTarget, StartedSession, PendingApprovalRef, ForkedSession } from './sessions';
export { connectTemporalClient, clientConnectionOptions } from '../runtime/connection';
export { loadConfig } from '../runtime/config';
export { agentSession } from '../workflows/agentSession';
export * from '../workflows/messages';
export { ApprovalDecision as ApprovalDecisionSchema, BudgetTopUp as BudgetTopUpSchema, ExternalEvent as ExternalEventSchema } from '../runtime/message-schemas';
/** The HTTP API as a Fastify instance (serve it yourself, or through `npm run http`); API keys are stored as sha256Hex digests. */
export { buildHttpApi } from './http-api';
export type { HttpApiOptions } from './http-api';
export { sha256Hex } from './http-auth';
