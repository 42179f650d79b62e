/**
 * The session's typed search attributes, shared by the workflow (which keeps them current) and clients
 * (which set the first values at start). Only @temporalio/common: safe on both sides.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const SessionStatusKey = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
export const AgentNameKey = defineSearchAttributeKey('AgentName', SearchAttributeType.KEYWORD);
export const PendingApprovalsKey = defineSearchAttributeKey('PendingApprovals', SearchAttributeType.INT);
export const TokensUsedKey = defineSearchAttributeKey('TokensUsed', SearchAttributeType.INT);
export const CostUsdKey = defineSearchAttributeKey('CostUsd', SearchAttributeType.DOUBLE);
export const UserIdKey = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);
export const SandboxModeKey = defineSearchAttributeKey('SandboxMode', SearchAttributeType.KEYWORD);
/** Forks: the session this one was forked (or resumed) from, and the parent's last shared seq. */
export const ParentSessionKey = defineSearchAttributeKey('ParentSession', SearchAttributeType.KEYWORD);
export const ForkedAtSeqKey = defineSearchAttributeKey('ForkedAtSeq', SearchAttributeType.INT);

/**
 * What a client sets when it starts a session: the status the session starts in, its agent and user. The
 * session then does not upsert them itself (one history event and one visibility write fewer per session).
 */
export function startSearchAttributes(input: { agent: string; userId?: string; fork?: { parentSessionId: string; atSeq?: number } }): SearchAttributePair[] {
  return [
    ...(input.fork ? [{ key: ParentSessionKey, value: input.fork.parentSessionId }] : []),
    ...(input.fork?.atSeq !== undefined ? [{ key: ForkedAtSeqKey, value: input.fork.atSeq }] : []),
    { key: SessionStatusKey, value: 'running' },
    { key: PendingApprovalsKey, value: 0 },
    { key: AgentNameKey, value: input.agent },
    ...(input.userId ? [{ key: UserIdKey, value: input.userId }] : []),
  ];
}
