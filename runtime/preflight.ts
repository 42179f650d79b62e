/**
 * Errors that say what to fix, for what a worker or client depends on: the Temporal address, the model
 * endpoint, the data directories. Used at start-up (the worker warns) and where connections are opened.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isPortOpen } from './temporal-server';

/** Whether anything accepts a TCP connection at host:port (to tell "nothing there" from "not Temporal"). */
async function tcpOpen(address: string, timeoutMs = 2_000): Promise<boolean> {
  const m = /^(.*):(\d+)$/.exec(address);
  return m ? isPortOpen(m[1].replace(/^\[|\]$/g, ''), Number(m[2]), timeoutMs) : false;
}

/** Turns a failed Temporal connection into a message naming the address and what to check. */
export async function temporalConnectError(address: string, err: unknown): Promise<Error> {
  const detail = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const hint = (await tcpOpen(address))
    ? 'something accepts connections there but does not answer as a Temporal server: check that TEMPORAL_ADDRESS is the frontend gRPC port (usually 7233), not the Web UI, an HTTP service or a TLS-only endpoint'
    : 'nothing accepts connections there: start the server (`npm run temporal`) or fix TEMPORAL_ADDRESS';
  return new Error(`cannot connect to Temporal at ${address}: ${hint} (${detail})`, { cause: err });
}

/** Runs `connect`, replacing its error with one that names the address and what to check. */
export async function connectTemporal<T>(address: string, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect();
  } catch (err) {
    throw await temporalConnectError(address, err);
  }
}

/** The file path behind a store URL (`sqlite:<file>` or a bare path), or undefined for a server URL. */
export function storeFile(url: string): string | undefined {
  if (/^postgres(ql)?:\/\//i.test(url)) return undefined;
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  return file === ':memory:' ? undefined : path.resolve(file);
}

/** Opens a store, replacing an opaque failure ("unable to open database file") with the path and the setting. */
export async function openDataStore<T>(what: string, url: string, envVar: string, open: () => T | Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    const file = storeFile(url);
    const detail = err instanceof Error ? err.message : String(err);
    if (!file) throw new Error(`cannot open the ${what} at ${redactUrl(url)} (${detail}): check ${envVar} and that the database is reachable`, { cause: err });
    throw new Error(
      `cannot open the ${what} at ${file} (${detail}): make ${path.dirname(file)} a directory the worker can write, or set ${envVar} to another location`,
      { cause: err },
    );
  }
}

/** A directory the worker must be able to create and write; the problem, or undefined when it is fine. */
export function dirProblem(dir: string, envVar: string): string | undefined {
  const abs = path.resolve(dir);
  try {
    fs.mkdirSync(abs, { recursive: true });
    fs.accessSync(abs, fs.constants.W_OK | fs.constants.X_OK);
    const probe = path.join(abs, `.write-probe-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
    return undefined;
  } catch (err) {
    return `${abs} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): fix its permissions or set ${envVar}`;
  }
}

/**
 * Asks the model endpoint for its model list. Any HTTP answer means it is reachable (a 401 is reported:
 * the key is wrong); no answer at all names the URL and the setting.
 */
export async function modelEndpointProblem(baseUrl: string, apiKey: string | undefined, timeoutMs = 5_000): Promise<string | undefined> {
  const url = `${baseUrl.replace(/\/$/, '')}/models`;
  try {
    const res = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    if (res.status === 401 || res.status === 403) return `model endpoint ${baseUrl} refused the API key (${res.status}): check OPENAI_API_KEY`;
    return undefined;
  } catch (err) {
    const e = err as Error & { cause?: NodeJS.ErrnoException };
    return `model endpoint ${baseUrl} is unreachable (${e.cause?.code ?? e.name}: ${e.cause?.message ?? e.message}): check OPENAI_BASE_URL and that the server is up`;
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
