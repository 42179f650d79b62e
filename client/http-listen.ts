/** Where the HTTP API listens: shared by `npm run http` and `WORKER_HTTP_PORT=... npm run worker`. */
import type { FastifyInstance } from 'fastify';

/** A TCP port from an environment variable (or `fallback` when unset); a bad value fails naming the variable. */
export function portFromEnv(name: string, fallback?: number, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name}='${value}' is not a TCP port (1-65535)`);
  return port;
}

/** Listens on HTTP_HOST (default loopback) and the given port; returns the base URL. */
export async function listenHttpApi(app: FastifyInstance, port: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const host = env.HTTP_HOST ?? '127.0.0.1';
  await app.listen({ port, host });
  return `http://${host}:${port}`;
}
