/** Ports for the HTTP API (npm run http, WORKER_HTTP_PORT on the worker): a bad value fails naming the variable. */
import { portFromEnv } from '../../client/http-listen';

test('a port from the environment, the fallback when unset, and a clear error for anything else', () => {
  expect(portFromEnv('HTTP_PORT', 8080, {})).toBe(8080);
  expect(portFromEnv('WORKER_HTTP_PORT', undefined, {})).toBeUndefined();
  expect(portFromEnv('WORKER_HTTP_PORT', undefined, { WORKER_HTTP_PORT: '9091' })).toBe(9091);
  for (const bad of ['0', '65536', '80.5', 'http', '-1']) {
    expect(() => portFromEnv('WORKER_HTTP_PORT', undefined, { WORKER_HTTP_PORT: bad })).toThrow(`WORKER_HTTP_PORT='${bad}' is not a TCP port (1-65535)`);
  }
});
