/**
 * The non-TypeScript signer of the signed-approval tests: scripts/signers/sign_decision.py with Python's
 * `cryptography` package. Uses a python3 that has it, else a project-local venv (.data/python-signer)
 * with the pinned version installed from PyPI once (CI runs the same install: .ci/run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../runtime/temporal-server';

export const CRYPTOGRAPHY_VERSION = '48.0.0';
const VENV = path.join(PROJECT_ROOT, '.data', 'python-signer');
const SCRIPT = path.join(PROJECT_ROOT, 'scripts', 'signers', 'sign_decision.py');

function hasCryptography(python: string): boolean {
  return spawnSync(python, ['-c', 'import cryptography.hazmat.primitives.asymmetric.ed25519'], { stdio: 'ignore' }).status === 0;
}

/** A python interpreter with `cryptography`, installing it into the project venv if needed. */
export function signerPython(): string {
  const venvPython = path.join(VENV, 'bin', 'python');
  if (existsSync(venvPython) && hasCryptography(venvPython)) return venvPython;
  if (hasCryptography('python3')) return 'python3';
  execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  execFileSync(path.join(VENV, 'bin', 'pip'), ['install', '-q', `cryptography==${CRYPTOGRAPHY_VERSION}`], { stdio: 'inherit' });
  return venvPython;
}

/** Signs a decision with the Python signer; returns the signed decision it prints. */
export function pythonSign(req: { pem: string; keyId: string; expiresAt: string; decision: Record<string, unknown> }): Record<string, unknown> {
  const out = execFileSync(signerPython(), [SCRIPT], { input: JSON.stringify(req), encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}
