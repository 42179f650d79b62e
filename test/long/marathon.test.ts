/**
 * `npm run test:long`: the 5,000-step session (LONG_STEPS to change N, a multiple of 500) on the real dev
 * server, worker and scripted model: runs to completion; every run's history stays under a stated bound;
 * no message, approval or answer is lost across the continue-as-new boundaries. Figures: `npm run bench`.
 */
import { createHarness, type Harness } from '../support/harness';
import { runMarathon, STEPS_PER_TURN, type MarathonResult } from '../support/marathon';

/** Bounds per run (the agent continues as new every 100 steps): far below Temporal's 51,200 events / 50 MB. */
export const MAX_RUN_EVENTS = 1_500;
export const MAX_RUN_BYTES = 1024 * 1024;
/** The state handed from run to run must not grow with the steps taken (approvals kept are bounded by turns). */
export const MAX_CARRY_BYTES = 64 * 1024;

const STEPS = Number(process.env.LONG_STEPS ?? 5000);

let h: Harness;
let r: MarathonResult;
beforeAll(async () => {
  h = await createHarness();
  await h.startWorker();
  r = await runMarathon(h, STEPS, (m) => process.stderr.write(`${m}\n`));
  process.stderr.write(`${JSON.stringify({ runs: r.runs.length, wallMs: r.wallMs, compactions: r.compactions, maxEvents: Math.max(...r.runs.map((x) => x.events)), maxBytes: Math.max(...r.runs.map((x) => x.bytes)) })}\n`);
});
afterAll(async () => h?.close());

const turns = STEPS / STEPS_PER_TURN;

test(`the ${STEPS}-step session runs to completion, over many runs`, () => {
  expect(r.steps).toBe(STEPS);
  expect(r.runs.length).toBeGreaterThanOrEqual(STEPS / 100);
  expect(r.state.status).toBe('awaiting_input');
  // The model's context was compacted along the way (what keeps a step's cost flat), and none failed.
  expect(r.compactions).toBeGreaterThanOrEqual(turns);
  expect(r.state.memory?.errors ?? []).toEqual([]);
});

test(`every run's history stays under ${MAX_RUN_EVENTS} events and ${MAX_RUN_BYTES} bytes; the carried state stays under ${MAX_CARRY_BYTES} bytes`, () => {
  for (const run of r.runs) {
    expect(run.events).toBeLessThan(MAX_RUN_EVENTS);
    expect(run.bytes).toBeLessThan(MAX_RUN_BYTES);
    expect(run.inputBytes).toBeLessThan(MAX_CARRY_BYTES);
  }
});

test('no chat message, approval or answer is lost across the boundaries; every tool call ran once', () => {
  expect(r.stored.userTexts).toEqual(Array.from({ length: turns }, (_, i) => `turn ${i + 1}`));
  expect(r.stored.answers).toEqual(Array.from({ length: turns }, () => `turn done after ${STEPS_PER_TURN - 1} tool calls`));
  // One system message, per turn a user message, 500 model turns and 499 tool results.
  expect(r.stored.byRole).toEqual({ system: 1, user: turns, assistant: STEPS, tool: STEPS - turns });
  const approved = r.state.approvals.filter((a) => a.status === 'approved');
  expect(approved).toHaveLength(turns);
  expect(approved.every((a) => a.approver === 'marathon-ops')).toBe(true);
  expect(r.state.pendingApprovals).toEqual([]);
  expect(r.state.rejectedMessages).toEqual([]);
});
