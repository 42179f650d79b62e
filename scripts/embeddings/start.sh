#!/usr/bin/env bash
# `npm run embeddings`: installs (first time) and runs the local OpenAI-compatible embedding server.
#   EMBEDDINGS_PORT (default 8766); then set EMBEDDING_BASE_URL=http://127.0.0.1:8766/v1 EMBEDDING_MODEL=all-MiniLM-L6-v2
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${EMBEDDINGS_CACHE_DIR:-$ROOT/.cache/embeddings}"
bash "$ROOT/scripts/embeddings/setup.sh"
# One BLAS thread: on a small shared machine, multi-threaded OpenBLAS for these small matrices is ~6x slower
# than one thread (threads spin against each other and against the worker).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$DIR/venv/bin/python" "$ROOT/scripts/embeddings/server.py" --model-dir "$DIR/model" --port "${EMBEDDINGS_PORT:-8766}" "$@"
