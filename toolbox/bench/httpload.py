"""The predictor alone over HTTP: V2 INT64 requests back to back on one connection.

The bodies are what a worker sends (token ids and attention mask, padded to the longest text
of the batch); they are built before the clock starts.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

from core.tokenization import load_tokenizer
from toolbox.bench.texts import bench_texts
from toolbox.errors import ToolboxError


def v2_bodies(tokenizer_dir: Path, size: int, count: int = 8) -> list[bytes]:
    """``count`` V2 request bodies of ``size`` products each."""
    tok = load_tokenizer(tokenizer_dir, 128)
    texts = bench_texts(size * count)
    bodies = []
    for i in range(0, len(texts), size):
        inputs = token_inputs(tok.encode_batch_fast(texts[i : i + size]))
        payload = {"inputs": inputs, "parameters": {"top_k": 3}}
        bodies.append(json.dumps(payload, separators=(",", ":")).encode())
    return bodies


def token_inputs(encodings: list[Any]) -> list[dict[str, Any]]:
    """The V2 INT64 inputs (``input_ids``, ``attention_mask``, row-major) of a padded batch of
    ``tokenizers`` encodings, as the workers send them."""
    shape = [len(encodings), len(encodings[0].ids)]
    return [
        {"name": "input_ids", "datatype": "INT64", "shape": shape,
         "data": [t for e in encodings for t in e.ids]},
        {"name": "attention_mask", "datatype": "INT64", "shape": shape,
         "data": [m for e in encodings for m in e.attention_mask]},
    ]


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def load(url: str, model_name: str, bodies: list[bytes], rows: int, seconds: float
         ) -> dict[str, float]:
    """Send ``bodies`` in turn for ``seconds``: texts/s and request latency percentiles."""
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=120)
    path = f"/v2/models/{model_name}/infer"
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    try:
        for body in bodies[:2]:  # warm-up, not counted
            conn.request("POST", path, body, headers)
            conn.getresponse().read()
        started = time.perf_counter()
        while time.perf_counter() - started < seconds or len(latencies) < 3:
            t0 = time.perf_counter()
            conn.request("POST", path, bodies[len(latencies) % len(bodies)], headers)
            resp = conn.getresponse()
            payload = resp.read()
            if resp.status != 200:
                raise ToolboxError(f"predictor answered HTTP {resp.status}: {payload[:200]!r}")
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    latencies.sort()
    return {
        "batch_size": rows,
        "requests": len(latencies),
        "texts_per_s": len(latencies) * rows / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }
