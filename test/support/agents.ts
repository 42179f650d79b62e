/** Agents used only by tests, registered next to the demo agents in test workers. */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineAgent, defineTool } from '../../runtime/agent';
import { messageText, type ChatRequest, type ScriptedTurn } from '../../runtime/scripted-model';
import { openOutbox, sendDecision } from '../../examples/agents/application/outbox';
import { fetchWithSecret, sandboxTools, writeWorkspaceFile } from '../../sandbox';
import { memoryTools, type MemoryStore } from '../../memory';

export const calculatorAgent = defineAgent({
  name: 'calculator',
  instructions: 'You add numbers with the add tool and look facts up.',
  // Long-session tests (300 turns) run past the default 50-step cap on purpose.
  budget: { maxSteps: 1000 },
  tools: [
    defineTool({
      name: 'add',
      description: 'Add two numbers.',
      input: z.object({ a: z.number(), b: z.number() }),
      run: ({ a, b }) => ({ sum: a + b }),
    }),
    defineTool({
      name: 'lookup_fact',
      description: 'Look up a fact by topic.',
      input: z.object({ topic: z.string().min(1) }),
      run: ({ topic }) => {
        if (topic === 'explode') throw new Error('fact service unavailable');
        return { topic, fact: `${topic} is interesting` };
      },
    }),
  ],
});

/** A side-effecting tool that writes its effect first and then takes a while: the window a crash test aims at. */
export const notifierAgent = defineAgent({
  name: 'notifier',
  instructions: 'You send notices.',
  tools: [
    defineTool({
      name: 'send_notice',
      description: 'Send a notice to a recipient (side effect).',
      input: z.object({ recipient: z.string(), text: z.string(), holdMs: z.number().int().nonnegative().default(0) }),
      effects: 'write',
      approval: (args) => (args.recipient.startsWith('vip') ? `notices to ${args.recipient} need approval` : false),
      run: async ({ recipient, text, holdMs }, ctx) => {
        const db = openOutbox();
        try {
          sendDecision(db, {
            idempotencyKey: ctx.idempotencyKey,
            sessionId: ctx.sessionId,
            applicantId: recipient,
            decision: 'notice',
            amount: 0,
            reason: text,
            sentAt: new Date().toISOString(),
          });
        } finally {
          db.close();
        }
        if (holdMs) await sleep(holdMs, undefined, { signal: ctx.signal });
        return { delivered: recipient };
      },
    }),
  ],
});

/** Short approval deadlines with one escalation level, then default deny. */
export const escalatingAgent = defineAgent({
  name: 'escalating-notifier',
  instructions: 'You send notices to VIPs.',
  tools: notifierAgent.tools,
  approvals: { group: 'support-leads', timeoutMs: 1500, escalation: [{ group: 'managers', timeoutMs: 1500 }] },
});

/** The notifier's tool under this agent's own policy: every notice needs approval (per-agent override). */
export const strictNotifierAgent = defineAgent({
  name: 'strict-notifier',
  instructions: 'You send notices; every one is approved.',
  tools: notifierAgent.tools,
  toolApprovals: { send_notice: { approval: 'always', policyVersion: 'strict-1' } },
  // Short runs, so an approve-for-session grant is seen crossing continue-as-new.
  continueAsNewEverySteps: 2,
});

/** The same shared tool with no approval at all in this agent. */
export const lenientNotifierAgent = defineAgent({
  name: 'lenient-notifier',
  instructions: 'You send notices.',
  tools: notifierAgent.tools,
  toolApprovals: { send_notice: { approval: 'never', policyVersion: 'lenient-1' } },
});

/** The test approver directory (test/fixtures/approvers): alice (support-leads), bob (managers), carol (both). */
export const TEST_APPROVERS = path.resolve(__dirname, '..', 'fixtures', 'approvers', 'directory.yaml');

/** Only signed decisions by members of the asked group; the session's own user may not decide. */
export const signedNotifierAgent = defineAgent({
  name: 'signed-notifier',
  instructions: 'You send notices to VIPs.',
  tools: notifierAgent.tools,
  approvals: { group: 'support-leads', timeoutMs: 3600_000, auth: { directory: TEST_APPROVERS, requireSignature: true } },
});

/** Groups enforced without signatures; the first group has 2 s before the request escalates to managers. */
export const groupNotifierAgent = defineAgent({
  name: 'group-notifier',
  instructions: 'You send notices to VIPs.',
  tools: notifierAgent.tools,
  approvals: { group: 'support-leads', timeoutMs: 2000, escalation: [{ group: 'managers', timeoutMs: 3600_000 }], auth: { directory: TEST_APPROVERS } },
});

/** Two model steps of budget, priced so that cost is visible. */
export const budgetedAgent = defineAgent({
  name: 'budgeted',
  instructions: 'You add numbers, carefully, one step at a time.',
  tools: calculatorAgent.tools,
  budget: { maxSteps: 2 },
  pricing: { inputPerMTokUsd: 1000, outputPerMTokUsd: 2000 },
});

/** A cost cap rather than a step cap: each scripted call costs $0.12 at these prices. */
export const costCappedAgent = defineAgent({
  name: 'cost-capped',
  instructions: 'You add numbers.',
  tools: calculatorAgent.tools,
  budget: { maxCostUsd: 0.1 },
  pricing: { inputPerMTokUsd: 1000, outputPerMTokUsd: 2000 },
});

/** No budget at all: the runtime's defaults (DEFAULT_BUDGET) apply. */
export const unbudgetedLooperAgent = defineAgent({
  name: 'unbudgeted-looper',
  instructions: 'You add numbers, forever if asked.',
  tools: calculatorAgent.tools.slice(0, 1),
});

/** No budget, but priced: the default cost cap is the one that bites ($0.12 per scripted call of 100+10 tokens). */
export const unbudgetedPricedAgent = defineAgent({
  name: 'unbudgeted-priced',
  instructions: 'You add numbers, forever if asked.',
  tools: calculatorAgent.tools.slice(0, 1),
  pricing: { inputPerMTokUsd: 1000, outputPerMTokUsd: 2000 },
});

/** The explicit opt-out: no step or cost cap. */
export const unlimitedAgent = defineAgent({
  name: 'unlimited',
  instructions: 'You add numbers.',
  tools: calculatorAgent.tools.slice(0, 1),
  budget: 'unlimited',
});

/** Chat sessions that close after 1.5 s without a message. */
export const idleChatAgent = defineAgent({
  name: 'idle-chat',
  instructions: 'You chat briefly.',
  tools: [],
  idleTimeoutMs: 1500,
});

/** Starts a new workflow run every 3 model steps. */
export const longRunnerAgent = defineAgent({
  name: 'long-runner',
  instructions: 'You count with the add tool.',
  tools: calculatorAgent.tools,
  continueAsNewEverySteps: 3,
});

/** The built-in sandboxed tools (bubblewrap). */
export const sandboxedAgent = defineAgent({
  name: 'sandboxed',
  instructions: 'You run commands in your workspace.',
  tools: sandboxTools({ limits: { timeoutMs: 120_000 } }),
});

/**
 * Host-side tools that hold a secret, next to the sandbox tools (which never get one): `call_api` uses
 * it the intended way (fetchWithSecret); `leaky_tool` is a careless tool that prints, writes, logs,
 * heartbeats and throws the value in several encodings.
 */
export const leakyAgent = defineAgent({
  name: 'leaky',
  instructions: 'You call APIs and inspect your workspace.',
  budget: { maxSteps: 100 },
  tools: [
    ...sandboxTools({ limits: { timeoutMs: 120_000 } }),
    defineTool({
      name: 'call_api',
      description: 'GET a URL with the API token.',
      input: z.object({ url: z.string().url() }),
      secrets: ['TEST_API_TOKEN'],
      run: async ({ url }, ctx) => {
        const res = await fetchWithSecret(ctx, 'TEST_API_TOKEN', url);
        return { status: res.status, body: await res.text() };
      },
    }),
    defineTool({
      name: 'leaky_tool',
      description: 'Misbehaves with its secret.',
      input: z.object({ mode: z.enum(['print', 'write', 'throw']) }),
      secrets: ['TEST_API_TOKEN'],
      maxAttempts: 1,
      run: async ({ mode }, ctx) => {
        const v = ctx.secrets.TEST_API_TOKEN;
        const reversed = [...v].reverse().join('');
        ctx.logger.warn(`leaky_tool has ${v}`, { v });
        ctx.heartbeat({ leaked: v });
        if (mode === 'throw') throw new Error(`upstream refused key ${v} (hex ${Buffer.from(v).toString('hex')})`);
        if (mode === 'write') {
          await writeWorkspaceFile(ctx.workspaceDir, 'leak.txt', `${v}\n`);
          return { wrote: 'leak.txt' };
        }
        return { raw: v, reversed, b64: Buffer.from(v).toString('base64'), hex: Buffer.from(v).toString('hex').match(/../g)!.join(':') };
      },
    }),
  ],
});

/** Automatic memory: recall at start, summary at end, compaction past 4000 context tokens. */
export function memoryAgent(memory: MemoryStore) {
  return defineAgent({
    name: 'memory-calculator',
    instructions: 'You add numbers and remember what matters about the user.',
    tools: [
      ...calculatorAgent.tools,
      ...memoryTools(memory, { defaultNamespace: (ctx) => (ctx.userId ? `user/${ctx.userId}` : `session/${ctx.sessionId}`) }),
      // Writes its memory first, then takes a while: the window a worker-crash test aims at.
      defineTool({
        name: 'remember_slowly',
        description: 'Remember a note, slowly.',
        input: z.object({ text: z.string().min(1), holdMs: z.number().int().nonnegative() }),
        effects: 'write',
        run: async ({ text, holdMs }, ctx) => {
          const record = await memory.write({
            namespace: `session/${ctx.sessionId}`,
            kind: 'note',
            text,
            provenance: { sessionId: ctx.sessionId, step: ctx.seq, toolCallId: ctx.toolCallId },
            idempotencyKey: ctx.idempotencyKey,
          });
          await sleep(holdMs, undefined, { signal: ctx.signal });
          return { id: record.id };
        },
      }),
    ],
    memory: { recall: 5, summarizeAtEnd: true, contextBudgetTokens: 4000, keepRecentMessages: 6 },
    budget: { maxSteps: 1000 }, // the 200-turn compaction test runs past the default cap
  });
}

/**
 * Proves tool calls of one turn run at the same time without timing anything: each call waits (bounded)
 * until `size` calls of its group have arrived; calls run one after another would never meet.
 */
const arrivals = new Map<string, number>();
export const rendezvousAgent = defineAgent({
  name: 'rendezvous',
  instructions: 'You meet.',
  tools: [
    defineTool({
      name: 'meet',
      description: 'Wait until the whole group has arrived.',
      input: z.object({ group: z.string(), size: z.number().int().positive() }),
      run: async ({ group, size }, ctx) => {
        arrivals.set(group, (arrivals.get(group) ?? 0) + 1);
        for (let waited = 0; (arrivals.get(group) ?? 0) < size && waited < 10_000; waited += 20) await sleep(20, undefined, { signal: ctx.signal });
        return { group, met: (arrivals.get(group) ?? 0) >= size };
      },
    }),
  ],
});

/** The calculator with every call as a regular activity: the step shape sessions had before local steps (bench). */
export const calculatorActivitiesAgent = defineAgent({
  ...calculatorAgent,
  name: 'calculator-activities',
  localModelTimeoutMs: 0,
  tools: calculatorAgent.tools.map((t) => ({ ...t, runAs: 'activity' as const })),
});

/** Records how many of its calls run at once: each waits (bounded) until `expect` are in, then leaves. */
export const concurrency = { active: 0, max: 0 };
export const cappedAgent = defineAgent({
  name: 'capped',
  instructions: 'You probe.',
  maxParallelToolCalls: 2,
  tools: [
    defineTool({
      name: 'probe',
      description: 'Count concurrent calls.',
      input: z.object({ expect: z.number().int().positive() }),
      run: async ({ expect }, ctx) => {
        concurrency.active++;
        concurrency.max = Math.max(concurrency.max, concurrency.active);
        try {
          for (let waited = 0; concurrency.active < expect && waited < 3_000; waited += 20) await sleep(20, undefined, { signal: ctx.signal });
          return { ok: true };
        } finally {
          concurrency.active--;
        }
      },
    }),
  ],
});

/** Waits for a payment with the built-in `wait_for_event` (and may `wait`): test/waits.test.ts, recordings. */
export const collectorAgent = defineAgent({
  name: 'collector',
  instructions: 'You collect payments: wait for payment_received, then confirm.',
  tools: [],
  waits: { maxWaitMs: 24 * 3600_000, events: ['payment_received'] },
});

/**
 * The 5,000-step session (test/long/marathon.test.ts, bench): a no-op tool, an approval when the model
 * marks a call as a checkpoint, no budget, a fresh run every 100 steps, and the model's context compacted
 * when it passes 4,000 tokens (without it every call sends the whole transcript: quadratic in the steps).
 */
export const marathonAgent = defineAgent({
  name: 'marathon',
  instructions: 'You take many small steps.',
  budget: 'unlimited',
  continueAsNewEverySteps: 100,
  memory: { recall: 0, summarizeAtEnd: false, contextBudgetTokens: 4_000, keepRecentMessages: 20 },
  tools: [
    defineTool({
      name: 'noop',
      description: 'Does nothing; a checkpoint call needs approval.',
      input: z.object({ n: z.number().int(), checkpoint: z.boolean().default(false) }),
      approval: (args) => (args.checkpoint ? `checkpoint at step ${args.n}` : false),
      run: ({ n }) => ({ n }),
    }),
  ],
});

/** Calls of `fetch_once` so far, by tool call id (the first call of each throws). */
export const flakyCalls = new Map<string, number>();
/** A short read-only tool whose first call fails: the model call runs it eagerly, the workflow runs it again. */
export const flakyAgent = defineAgent({
  name: 'flaky',
  instructions: 'You fetch things.',
  tools: [
    defineTool({
      name: 'fetch_once',
      description: 'Fetches an item; the first try fails.',
      input: z.object({ item: z.string() }),
      effects: 'read',
      run: ({ item }, ctx) => {
        const n = (flakyCalls.get(ctx.toolCallId) ?? 0) + 1;
        flakyCalls.set(ctx.toolCallId, n);
        if (n === 1) throw new Error('upstream hiccup');
        return { item, try: n };
      },
    }),
  ],
});

/**
 * Sub-agents (test/subagents.test.ts, recordings, bench): a session that hands tasks to the calculator, to
 * notifiers whose notices need approval (one of them signed), and to the collector (waits for an event).
 */
export const delegatorAgent = defineAgent({
  name: 'delegator',
  instructions: 'You hand work to other agents and report what they said.',
  tools: calculatorAgent.tools,
  budget: { maxSteps: 100 },
  delegates: [
    { agent: 'calculator', budgetShare: 0.25, description: 'adds numbers and looks facts up' },
    'strict-notifier',
    { agent: 'signed-notifier', budgetShare: 0.25 },
    { agent: 'collector', budgetShare: 0.25 },
    { agent: 'relay', budgetShare: 0.25 },
  ],
});

/** A middle layer: hands every task on to the strict notifier (whose notices need approval). */
export const relayAgent = defineAgent({
  name: 'relay',
  instructions: 'You pass tasks on.',
  tools: [],
  delegates: ['strict-notifier'],
});

/** USD 2^-10 per prompt token and 2^-9 per completion token: every cost is a binary fraction, so sums are exact. */
export const BINARY_PRICING = { inputPerMTokUsd: 976.5625, outputPerMTokUsd: 1953.125 };

/** Budget roll-up: a priced parent with every limit set, delegating half of what it has left. */
export const pricedDelegatorAgent = defineAgent({
  name: 'priced-delegator',
  instructions: 'You count, handing part of the counting to a helper.',
  tools: calculatorAgent.tools,
  pricing: BINARY_PRICING,
  budget: { maxSteps: 40, maxTokens: 1_000_000, maxCostUsd: 100 },
  delegates: [{ agent: 'priced-helper', budgetShare: 0.5 }],
});

/** Delegates to itself: a cycle, bounded by the delegation depth limit. */
export const pricedHelperAgent = defineAgent({
  name: 'priced-helper',
  instructions: 'You count, and may hand part of the counting to another helper.',
  tools: calculatorAgent.tools,
  pricing: BINARY_PRICING,
  delegates: [{ agent: 'priced-helper', budgetShare: 0.5 }],
});

export function testAgents(deps: { memory: MemoryStore }) {
  return [
    calculatorAgent,
    flakyAgent,
    calculatorActivitiesAgent,
    rendezvousAgent,
    cappedAgent,
    notifierAgent,
    escalatingAgent,
    strictNotifierAgent,
    lenientNotifierAgent,
    signedNotifierAgent,
    groupNotifierAgent,
    budgetedAgent,
    costCappedAgent,
    unbudgetedLooperAgent,
    unbudgetedPricedAgent,
    unlimitedAgent,
    idleChatAgent,
    longRunnerAgent,
    sandboxedAgent,
    leakyAgent,
    memoryAgent(deps.memory),
    collectorAgent,
    marathonAgent,
    delegatorAgent,
    relayAgent,
    pricedDelegatorAgent,
    pricedHelperAgent,
  ];
}

/** A scripted model for the notifier agents: one send_notice call, then an answer quoting the tool's result. */
export function oneNoticeScript(recipient: string, text: string): (req: ChatRequest) => ScriptedTurn {
  return (req) =>
    req.messages.some((m) => m.role === 'tool')
      ? { content: `done: ${messageText(req.messages[req.messages.length - 1])}` }
      : { toolCalls: [{ name: 'send_notice', arguments: { recipient, text } }] };
}
