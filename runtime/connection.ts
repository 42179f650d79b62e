/**
 * Temporal connection settings through `@temporalio/envconfig`: the profile file (TEMPORAL_CONFIG_FILE,
 * TEMPORAL_PROFILE) and TEMPORAL_* variables give address, namespace, TLS, API key and gRPC metadata, so a
 * worker or CLI reaches Temporal Cloud by configuration alone. TEMPORAL_ADDRESS/NAMESPACE in the runtime
 * config (already resolved from the same sources by loadConfig) win, so tests and callers can point elsewhere.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { connectTemporal } from './preflight';

type Env = NodeJS.ProcessEnv | Record<string, string | undefined>;

/** The envconfig profile for this environment; a malformed profile file fails naming the setting to fix. */
export function temporalProfile(env: Env = process.env): ClientConnectConfig {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  try {
    return loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (err) {
    throw new Error(
      `cannot load the Temporal connection profile (${err instanceof Error ? err.message : String(err)}): ` +
        'check TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE, or unset them to use TEMPORAL_ADDRESS alone',
      { cause: err },
    );
  }
}

export interface TemporalSettings {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
}

/** Options for NativeConnection.connect (workers): the profile's TLS, API key and metadata, at the configured address. */
export function nativeConnectionOptions(config: TemporalSettings, env: Env = process.env): NativeConnectionOptions {
  const { connectionOptions } = temporalProfile(env);
  return { ...connectionOptions, address: config.TEMPORAL_ADDRESS };
}

/** Options for Connection.connect (clients), from the same profile. */
export function clientConnectionOptions(config: TemporalSettings, env: Env = process.env): ConnectionOptions {
  const { connectionOptions: c } = temporalProfile(env);
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(c.tls !== undefined ? { tls: c.tls } : {}),
    ...(c.apiKey !== undefined && typeof c.apiKey === 'string' ? { apiKey: c.apiKey } : {}),
    ...(c.metadata ? { metadata: c.metadata } : {}),
  };
}

/** A Client for the configured namespace; an unreachable address fails naming it and the fix. */
export async function connectTemporalClient(config: TemporalSettings, env: Env = process.env): Promise<Client> {
  const options = clientConnectionOptions(config, env);
  const connection = await connectTemporal(config.TEMPORAL_ADDRESS, () => Connection.connect(options));
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}
