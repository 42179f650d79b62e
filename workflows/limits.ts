/**
 * Bounds on everything a caller, an approver or a model can send into a session. One module with no
 * imports, shared by the workflow's hand-written checks (`validate.ts`) and the zod schemas used at
 * the edges (`runtime/message-schemas.ts`), so both refuse exactly the same things.
 */
export const LIMITS = {
  /** Approval ids are `<sessionId>/<seq>`: a bounded session id plus a number. */
  approvalIdChars: 300,
  /** Approver and "ended by" identities. */
  identityChars: 200,
  /** Signing key ids in decisions and approval policies. */
  keyIdChars: 100,
  /** A decision signature may be valid for at most this long ahead of workflow time. */
  signatureTtlMs: 24 * 3600_000,
  commentChars: 4_000,
  endReasonChars: 1_000,
  chatMessageChars: 100_000,
  /** Edited tool arguments: nesting depth, JSON nodes (values, keys excluded) and serialised size. */
  editedArgsDepth: 12,
  editedArgsNodes: 10_000,
  editedArgsBytes: 64 * 1024,
  /** Per-key string length inside edited arguments. */
  editedArgsKeyChars: 200,
  /** Tools one session may have approved for the rest of the session ("approve for session"). */
  sessionGrants: 20,
  topUpSteps: 1_000_000,
  topUpTokens: 10_000_000_000,
  topUpCostUsd: 1_000_000,
  /** Reasons kept in `state.rejectedMessages` (they may quote caller input). */
  rejectionReasonChars: 500,
  /** The state query answers with at most this many transcript entries and about this many bytes of them. */
  stateTranscriptEntries: 200,
  stateTranscriptBytes: 512 * 1024,
  /** External events (`wait_for_event`): name grammar length, payload size and shape, unconsumed events kept. */
  eventNameChars: 64,
  eventIdChars: 200,
  eventPayloadBytes: 16 * 1024,
  eventPayloadDepth: 8,
  eventPayloadNodes: 1_000,
  bufferedEvents: 20,
  /** The longest `wait` / `wait_for_event` any agent may allow (its own `waits.maxWaitMs` is at most this). */
  maxWaitMs: 366 * 24 * 3600_000,
  /**
   * Sub-agents (`delegates`): how deep sessions may delegate (a session started by a client is depth 0, its
   * children depth 1, ...), how many children one model turn and one session may start, how long a
   * delegated task may be, and how much of a child's answer goes back to the parent's model.
   */
  delegationDepth: 3,
  delegationsPerTurn: 4,
  delegationsPerSession: 50,
  delegateTaskChars: 20_000,
  delegateAnswerChars: 32_000,
  /** Agents one agent may delegate to. */
  delegatesPerAgent: 16,
  /** Pending approvals of sub-agents a report carries and a parent shows (a child's own are bounded by its parallel calls). */
  subAgentApprovalsShown: 50,
  /** A sub-agent's approval arguments larger than this are shown by the parent as a note (the child keeps them whole). */
  subAgentArgsBytes: 16 * 1024,
} as const;
