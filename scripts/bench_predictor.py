#!/usr/bin/env python
"""Measure predictor throughput over HTTP (V2, one connection, requests back to back).

Starts ``python -m predictor`` on a free loopback port with ``--model-dir`` (or uses a running
one with ``--url``), then for each batch size sends pre-tokenized INT64 requests (what the
workers send; ``--mode text`` sends BYTES texts instead) for ``--seconds`` and prints texts/s
and request latency percentiles.

    python scripts/bench_predictor.py --model-dir var/models/seed --batch-sizes 1,32
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from core.tokenization import load_tokenizer
from toolbox.bench.httpload import load, token_inputs
from toolbox.errors import ToolboxError

BRANDS = ["Acme", "Nordic Home", "Zenith", "Bosch", "Lumio", "Kiddo", "TerraFood", "Velo"]
THINGS = [
    "stainless steel electric kettle 1.7 l", "cotton crew neck t-shirt, size M",
    "wireless noise cancelling headphones", "organic dark chocolate 85% cocoa 100 g",
    "oak dining table, extendable, 6 seats", "USB-C charging cable 2 m braided",
    "children's wooden building blocks, 50 pieces", "leather laptop bag 15 inch",
    "ceramic dinner plates set of 6", "mountain bike 29 inch aluminium frame",
    "cordless drill 18 V with 2 batteries", "men's running shoes, size 43",
]


def titles(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(BRANDS)} {rng.choice(THINGS)}" for _ in range(n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(model_dir: Path, model_name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "predictor", "--model-dir", str(model_dir),
           "--model-name", model_name, "--http-port", str(port), "--device", "auto"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"predictor exited with {proc.returncode}")
        try:
            ready = f"{url}/v2/models/{model_name}/ready"  # http://127.0.0.1 only
            with urllib.request.urlopen(ready, timeout=2):  # noqa: S310
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("predictor did not become ready")


def body(tok, texts: list[str], mode: str) -> bytes:
    if mode == "text":
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]
    else:
        inputs = token_inputs(tok.encode_batch_fast(texts))
    return json.dumps({"inputs": inputs}, separators=(",", ":")).encode()


def in_process(model_dir: Path, texts: list[str], size: int, seconds: float) -> float:
    """Texts/s of the same forward passes without HTTP (the server must be idle meanwhile)."""
    from predictor.loading import load_classifier

    global _CLASSIFIER
    if _CLASSIFIER is None:
        _CLASSIFIER = load_classifier(model_dir, "auto", 128)
    batches = [_CLASSIFIER.tokenize(texts[i : i + size]) for i in range(0, len(texts), size)]
    for batch in batches[:3]:
        _CLASSIFIER.classify(batch, 3)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        _CLASSIFIER.classify(batches[n % len(batches)], 3)
        n += 1
    return n * size / (time.perf_counter() - started)


_CLASSIFIER = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="start a predictor on this model")
    parser.add_argument("--url", help="use a running predictor instead")
    parser.add_argument("--model-name", default="category-match")
    parser.add_argument("--tokenizer-dir", type=Path, help="default: --model-dir")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup-requests", type=int, default=5)
    parser.add_argument("--mode", choices=("ids", "text"), default="ids")
    parser.add_argument("--in-process", action="store_true",
                        help="also time the same batches in this process (no HTTP), as a baseline")
    args = parser.parse_args()
    if not args.model_dir and not args.url:
        parser.error("give --model-dir or --url")
    tok = load_tokenizer(args.tokenizer_dir or args.model_dir, 128)
    proc, url = (None, args.url) if args.url else start_server(args.model_dir, args.model_name)
    try:
        for size in [int(s) for s in args.batch_sizes.split(",")]:
            texts = titles(size * 16)
            bodies = [body(tok, texts[i : i + size], args.mode) for i in range(0, len(texts), size)]
            load(url, args.model_name, bodies[: args.warmup_requests], size, 0)
            result = load(url, args.model_name, bodies, size, args.seconds)
            print(f"http mode={args.mode} batch={size:4d} requests={result['requests']:5d} "
                  f"texts/s={result['texts_per_s']:8.1f} p50={result['p50_ms']:7.1f} ms "
                  f"p99={result['p99_ms']:7.1f} ms load={os.getloadavg()[0]:.1f}", flush=True)
            if args.in_process and args.model_dir:
                rate = in_process(args.model_dir, texts, size, args.seconds)
                print(f"in-process      batch={size:4d} texts/s={rate:8.1f}", flush=True)
    except ToolboxError as exc:  # the predictor refused a request
        raise SystemExit(str(exc)) from exc
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
