/**
 * Workflow tests: the real session workflow (the same bundle the workers run) on Temporal's time-skipping
 * test server, with its activities replaced by small in-memory functions. Timers of days pass in
 * milliseconds, so deadlines, escalations and idle timeouts are tested at their real lengths.
 */
import { createHash, randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { CallModelInput, RunToolInput } from '../../activities';
import { findTestServer } from '../../runtime/test-server';
import type { CheckedToolCall, ModelTurn, RunSpec, ToolRunResult, ToolSpec } from '../../workflows/types';
import { WORKFLOW_BUNDLE } from '../support/paths';

let runtimeInstalled = false;

/** A time-skipping environment on the pinned test server binary (no download at test time). */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    // Worker chatter (state changes, replays) drowns the test output; warnings and errors still show.
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: findTestServer() } } });
}

export const DAY_MS = 24 * 3600_000;

export const noticeTool: ToolSpec = {
  name: 'send_notice',
  description: 'Sends a notice.',
  parameters: { type: 'object', properties: { recipient: { type: 'string' } } },
  approval: 'always',
  effects: 'write',
  timeoutMs: 10_000,
  maxAttempts: 1,
  runAs: 'local',
};

/** The spec describeAgent would return; only what a test changes needs to be given. */
export function runSpec(overrides: Partial<RunSpec> = {}): RunSpec {
  return {
    name: 'notifier',
    version: '1',
    instructions: 'You send notices.',
    model: 'fake-model',
    tools: [noticeTool],
    budget: { maxSteps: 20 },
    pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    approvals: { group: 'approvers', timeoutMs: 7 * DAY_MS, escalation: [] },
    idleTimeoutMs: 30 * 60_000,
    searchAttributes: false,
    heartbeatTimeoutMs: 20_000,
    sandboxMode: 'none',
    ...overrides,
  };
}

/** A tool call the model makes that needs approval (as checkToolCall on the worker would mark it). */
export function gatedCall(id: string, recipient: string): CheckedToolCall {
  return { id, name: 'send_notice', args: { recipient }, summary: `send_notice(recipient ${recipient})`, approval: { reason: 'send_notice always requires approval', argsHash: createHash('sha256').update(recipient).digest('hex'), policyVersion: '1' } };
}

export type ModelStep = Pick<ModelTurn, 'content'> & { toolCalls?: CheckedToolCall[] };

export interface MockedSession {
  activities: Record<string, (...args: never[]) => Promise<unknown>>;
  modelCalls: CallModelInput[];
  toolRuns: RunToolInput[];
}

/** Activities of a session whose model answers `steps` in order and whose tools succeed. */
export function mockActivities(spec: RunSpec, steps: ModelStep[] | ((input: CallModelInput, i: number) => ModelStep)): MockedSession {
  const modelCalls: CallModelInput[] = [];
  const toolRuns: RunToolInput[] = [];
  const activities = {
    async describeAgent(): Promise<RunSpec> {
      return spec;
    },
    async callModel(input: CallModelInput): Promise<ModelTurn> {
      const i = modelCalls.push(input) - 1;
      const step = typeof steps === 'function' ? steps(input, i) : steps[i];
      if (!step) throw new Error(`mock model: no step ${i}`);
      return { seq: input.seq, content: step.content, toolCalls: step.toolCalls ?? [], usage: { promptTokens: 100, completionTokens: 10, totalTokens: 110 }, model: spec.model };
    },
    async runTool(input: RunToolInput): Promise<ToolRunResult> {
      toolRuns.push(input);
      return { ok: true, preview: `sent to ${String((input.args as { recipient?: unknown }).recipient)}`, bytes: 10 };
    },
    async checkToolArgs(input: { name: string; args: unknown }): Promise<CheckedToolCall> {
      return { id: 'edited', name: input.name, args: input.args, summary: input.name };
    },
  };
  return { activities, modelCalls, toolRuns };
}

/** A worker on the environment running the session workflow bundle with the given activities. */
export async function sessionWorker(env: TestWorkflowEnvironment, activities: MockedSession['activities']): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = `wf-test-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities });
  return { worker, taskQueue };
}
