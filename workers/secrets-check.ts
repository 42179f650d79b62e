/** Start-time check that every secret an agent's tools declare resolves on this worker. */
import type { AgentDefinition } from '../runtime/agent';
import { MissingSecretError, secretEnvName } from '../sandbox/secrets';

/**
 * Throws naming the agent, the tool, the secret and how to provide it. Without this, a missing secret is
 * found only when the tool runs: after a human may already have approved the call.
 */
export function checkDeclaredSecrets(agents: readonly AgentDefinition[], resolve: (names: string[]) => Record<string, string>): void {
  const problems: string[] = [];
  for (const agent of agents) {
    for (const tool of agent.tools) {
      if (!tool.secrets?.length) continue;
      try {
        const got = resolve(tool.secrets);
        const absent = tool.secrets.filter((s) => typeof got[s] !== 'string');
        if (absent.length) throw new MissingSecretError(absent, 'the secrets resolver');
      } catch (err) {
        const missing = err instanceof MissingSecretError ? err.missing : tool.secrets;
        for (const name of missing) {
          problems.push(
            `agent '${agent.name}', tool '${tool.name}': secret '${name}' is not configured ` +
              `(set ${secretEnvName(name)} in the worker's environment, or add "${name}" to the JSON file named by AGENT_SECRETS_FILE ` +
              `(default .data/secrets.json)${err instanceof MissingSecretError ? '' : `; ${err instanceof Error ? err.message : String(err)}`})`,
          );
        }
      }
    }
  }
  if (problems.length) throw new Error(`the worker cannot start: ${problems.join('; ')}`);
}
