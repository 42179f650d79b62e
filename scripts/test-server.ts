/** Installs (if needed) and prints the path of the time-skipping test server: `tsx scripts/test-server.ts`. */
import { findTestServer } from '../runtime/test-server';

try {
  console.log(findTestServer({ verbose: true }));
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
