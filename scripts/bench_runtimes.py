#!/usr/bin/env python
"""Compare the predictor's runtimes in process: torch fp32, ONNX Runtime fp32, ONNX int8.

Loads a transformers model directory with the transformers runtime and its ONNX exports with
the onnx runtime (exported here into a temporary directory unless ``--onnx-dir`` /
``--int8-dir`` are given), then, side by side in this one process:

- throughput (products/s) and p50/p99 latency of one batch, at each ``--batch-sizes``, on
  pre-tokenized generated shop titles (what the workers send: INT64 token ids), the runtimes
  taking turns in ``--rounds`` rounds so that load from other jobs hits them alike;
- accuracy and macro-F1 on each ``--data`` file (JSONL with text and label), with the
  share of labels equal to torch's.

    python scripts/bench_runtimes.py --model-dir var/models/seed \\
        --data var/data/test.jsonl,var/data/shop_eval.jsonl
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from predictor.batches import TokenizedBatch
from predictor.loading import load_classifier
from predictor.onnx_runtime import load_onnx
from training.evaluate import evaluate_served, read_labelled
from training.generator import generate_products
from training.onnx_export import export_onnx


def titles(n: int, seed: int = 3) -> list[str]:
    return [str(p.message["title"]) for p in generate_products(n, seed=seed)]


def time_batches(model: Any, batches: list[TokenizedBatch], seconds: float) -> list[float]:
    """Seconds per ``classify`` call, calling back to back for ``seconds`` (at least 3 calls)."""
    latencies: list[float] = []
    started = time.perf_counter()
    i = 0
    while time.perf_counter() - started < seconds or i < 3:
        t0 = time.perf_counter()
        model.classify(batches[i % len(batches)], 3)
        latencies.append(time.perf_counter() - t0)
        i += 1
    return latencies


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.iterdir() if p.suffix in (
        ".onnx", ".safetensors", ".bin")]
    return sum(f.stat().st_size for f in files) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="transformers directory")
    parser.add_argument("--onnx-dir", type=Path, help="its fp32 ONNX export (default: export)")
    parser.add_argument("--int8-dir", type=Path, help="its int8 ONNX export (default: export)")
    parser.add_argument("--batch-sizes", default="1,32,256")
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="timed seconds per runtime and batch size (split over the rounds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", default="var/data/test.jsonl,var/data/shop_eval.jsonl",
                        help="comma-separated labelled JSONL files ('' to skip accuracy)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as work:
        dirs = {"torch fp32": args.model_dir}
        for key, given, quantization in (
            ("onnx fp32", args.onnx_dir, "none"), ("onnx int8", args.int8_dir, "dynamic-int8")
        ):
            if given is None:
                given = Path(work) / key.replace(" ", "-")
                result = export_onnx(args.model_dir, given, quantization=quantization)
                print(f"exported {key} in {result.seconds:.0f} s: {result.check}", flush=True)
            dirs[key] = given
        models: dict[str, Any] = {"torch fp32": load_classifier(args.model_dir, "cpu", 128)}
        models["onnx fp32"] = load_onnx(dirs["onnx fp32"], "cpu", 128)
        models["onnx int8"] = load_onnx(dirs["onnx int8"], "cpu", 128)
        sizes = {name: size_mb(path) for name, path in dirs.items()}

        print(f"# load average at start: {os.getloadavg()}", flush=True)
        rows = []
        for size in [int(s) for s in args.batch_sizes.split(",")]:
            texts = titles(max(size * 8, 256))
            per_model: dict[str, list[float]] = {name: [] for name in models}
            batches = {
                name: [m.tokenize(texts[i : i + size]) for i in range(0, len(texts), size)]
                for name, m in models.items()
            }
            for name, m in models.items():  # warm-up
                time_batches(m, batches[name][:2], 0)
            for _ in range(args.rounds):
                for name, m in models.items():
                    per_model[name] += time_batches(m, batches[name], args.seconds / args.rounds)
            for name, lat in per_model.items():
                lat.sort()
                rate = size * len(lat) / sum(lat)
                rows.append((name, size, rate, 1000 * statistics.median(lat),
                             1000 * percentile(lat, 0.99), len(lat)))
                print(f"{name:10s} batch={size:4d} products/s={rate:8.1f} "
                      f"p50={rows[-1][3]:8.1f} ms p99={rows[-1][4]:8.1f} ms calls={len(lat)} "
                      f"load={os.getloadavg()[0]:.1f}", flush=True)

        accuracy: dict[str, dict[str, tuple[float, float, float]]] = {}
        for data in [d for d in args.data.split(",") if d]:
            texts, gold = read_labelled(Path(data))
            reference = None
            for name, m in models.items():
                metrics = evaluate_served(m, texts, gold, show_errors=0)
                labels = np.concatenate([
                    m.classify_texts(texts[i : i + 64], 1).label_ids
                    for i in range(0, len(texts), 64)
                ])
                reference = labels if reference is None else reference
                same = float((labels == reference).mean())
                accuracy.setdefault(name, {})[Path(data).stem] = (
                    metrics["accuracy"], metrics["macro_f1"], same
                )
                print(f"{name:10s} {data}: accuracy {metrics['accuracy']:.4f} macro-F1 "
                      f"{metrics['macro_f1']:.4f} same label as torch {same:.4f}", flush=True)
        print(f"# load average at end: {os.getloadavg()}\n")

    torch_rate = {size: rate for name, size, rate, *_ in rows if name == "torch fp32"}
    print("| runtime | batch | products/s | vs torch | p50 batch latency | p99 | calls |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, size, rate, p50, p99, calls in rows:
        print(f"| {name} | {size} | {rate:,.0f} | {rate / torch_rate[size]:.2f}x | "
              f"{p50:.1f} ms | {p99:.1f} ms | {calls} |")
    if accuracy:
        sets = list(next(iter(accuracy.values())))
        print("\n| runtime | weights | " + " | ".join(
            f"{s} accuracy / macro-F1 / same label as torch" for s in sets) + " |")
        print("| --- | ---: |" + " --- |" * len(sets))
        for name, per_set in accuracy.items():
            cells = " | ".join(f"{a:.4f} / {f:.4f} / {same:.4f}" for a, f, same in per_set.values())
            print(f"| {name} | {sizes[name]:.0f} MB | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
