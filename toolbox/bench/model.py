"""The model alone, in process: texts/s of the forward pass at each batch size (no HTTP).

Each batch size is timed in three short rounds, interleaved with the other sizes, and the
best round counts (as ``timeit`` does): on a shared machine the other jobs only ever slow a
round down. Run as its own process by ``catmatch bench`` (so torch never loads into the benchmark
process) while nothing else of the benchmark runs; prints one JSON object:
``{"rows": [{"batch_size": 8, "texts_per_s": 120.0, "p99_ms": 70.1}, ...]}``.

    python -m toolbox.bench.model --model-dir var/models/seed --batch-sizes 1,8,32,64
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from predictor.runtimes import load_runtime
from toolbox.bench.texts import bench_texts


def measure(model_dir: Path, sizes: list[int], seconds: float, rounds: int = 3
            ) -> list[dict[str, float]]:
    """Per batch size, the best of ``rounds`` interleaved rounds (``seconds`` in all)."""
    classifier: Any = load_runtime(model_dir, device="cpu", max_length=128)  # by its card
    if not hasattr(classifier, "tokenize"):
        raise SystemExit(f"{model_dir}: mode 1 needs a token model (transformers or onnx)")
    batches = {}
    for size in sizes:
        texts = bench_texts(size * 8)
        batches[size] = [classifier.tokenize(texts[i : i + size])
                         for i in range(0, len(texts), size)]
        for batch in batches[size][:2]:  # warm-up
            classifier.classify(batch, 3)
    best: dict[int, dict[str, float]] = {}
    for _ in range(rounds):
        for size in sizes:
            row = _round(classifier, batches[size], size, seconds / rounds)
            if size not in best or row["texts_per_s"] > best[size]["texts_per_s"]:
                best[size] = row
    return [best[size] for size in sizes]


def _round(classifier: Any, batches: list[Any], size: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(latencies) < 3:
        t0 = time.perf_counter()
        classifier.classify(batches[len(latencies) % len(batches)], 3)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "batch_size": size,
        "texts_per_s": len(latencies) * size / elapsed,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--batch-sizes", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=5.0, help="per batch size, in all")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(json.dumps({"rows": measure(args.model_dir, sizes, args.seconds)}), flush=True)


if __name__ == "__main__":
    main()
