/**
 * Tool contracts checked on the worker, without a server: write-effect tools never run locally, an
 * agent's approval override replaces a shared tool's policy (and its version), `ctx.seq` is the seq.
 */
import { z } from 'zod';
import { checkToolCall } from '../../activities';
import { agentSpec, approvalHash, defineAgent, defineTool, toolSpec } from '../../runtime/agent';

const shared = defineTool({
  name: 'send',
  description: 'send',
  input: z.object({ to: z.string() }),
  effects: 'write',
  approval: (args) => (args.to.startsWith('vip') ? 'vip' : false),
  policyVersion: '3',
  run: () => 'ok',
});
const read = defineTool({ name: 'look', description: 'look', input: z.object({}), effects: 'read', run: () => 'ok' });

test("effects 'write' runs as a regular activity; asking to run it locally is refused at definition", () => {
  expect(toolSpec(shared).runAs).toBe('activity');
  expect(toolSpec(read).runAs).toBe('local');
  expect(() => defineTool({ name: 'w', description: 'w', input: z.object({}), effects: 'write', runAs: 'local', run: () => 1 })).toThrow(
    "tool 'w' has effects 'write' and runAs 'local': write tools run as regular activities",
  );
});

test("an agent's approval override replaces the shared tool's policy and version; other agents keep the tool's", () => {
  const plain = defineAgent({ name: 'plain', instructions: 'i', tools: [shared] });
  const strict = defineAgent({ name: 'strict', instructions: 'i', tools: [shared], toolApprovals: { send: { approval: 'always', policyVersion: 's1' } } });
  const open = defineAgent({ name: 'open', instructions: 'i', tools: [shared], toolApprovals: { send: { approval: 'never', policyVersion: 'o1' } } });

  expect(checkToolCall(plain, 'c', 'send', '{"to":"ann"}').approval).toBeUndefined();
  expect(checkToolCall(plain, 'c', 'send', '{"to":"vip-a"}').approval).toEqual({ reason: 'vip', policyVersion: '3', argsHash: approvalHash('send', { to: 'vip-a' }, '3') });
  expect(checkToolCall(strict, 'c', 'send', '{"to":"ann"}').approval).toEqual({ reason: 'send always requires approval', policyVersion: 's1', argsHash: approvalHash('send', { to: 'ann' }, 's1') });
  expect(checkToolCall(open, 'c', 'send', '{"to":"vip-a"}').approval).toBeUndefined();
  expect(agentSpec(strict, 'gpt-4.1-mini').tools[0].approval).toBe('always');
  expect(agentSpec(plain, 'gpt-4.1-mini').tools[0].approval).toBe('conditional');
});

test('an override must name a tool of the agent and carry a policy version', () => {
  expect(() => defineAgent({ name: 'a', instructions: 'i', tools: [shared], toolApprovals: { shell: { approval: 'always', policyVersion: '1' } } })).toThrow(
    "agent 'a' sets toolApprovals for 'shell', which is not one of its tools (send)",
  );
  expect(() => defineAgent({ name: 'a', instructions: 'i', tools: [shared], toolApprovals: { send: { approval: 'always', policyVersion: ' ' } } })).toThrow(
    "agent 'a': toolApprovals.send needs a policyVersion",
  );
});
