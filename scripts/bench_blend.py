"""What the n-gram blend and serving order cost: texts/s of one trained run, side by side.

    .venv/bin/python scripts/bench_blend.py var/runs/run-...   [--passes 2] [--threads 2]

For the run's torch model and its int8 export (made here, as ``catmatch models export
--quantize int8`` makes it), in one process, alternating, on the 1,024 generated titles
``training.measure`` times (batch 64, tokenizing included, CPU time over ``--threads``):

- ``network, padded``: the network alone on each batch padded to its longest row (how
  ``training.measure`` timed it before 2026-12-07 19:00 UTC);
- ``served, no blend``: ``served_logits`` with the blend weight set to 0 (length-sorted
  sub-batches; Korean rows to the route);
- ``served, blend``: ``served_logits`` as the version is served.

docs/TRAINING.md ("The n-gram blend") and docs/BENCHMARKS.md hold the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _speeds(model: Any, texts: list[str], threads: int) -> dict[str, float]:
    """One timed pass of each way of running ``model`` (a token classifier with a route)."""
    from training.measure import texts_per_second

    route = model.korean
    if route is None:
        raise SystemExit("the run has no Korean route, so no blend")
    runs: dict[str, tuple[Any, Callable[[list[str]], Any]]] = {
        "network, padded": (route, lambda t: model.logits(model.tokenize(t))),
        "served, no blend": (dataclasses.replace(route, blend_weight=0.0),
                             lambda t: model.served_logits(model.tokenize(t))),
        "served, blend": (route, lambda t: model.served_logits(model.tokenize(t))),
    }
    out: dict[str, float] = {}
    try:
        for name, (with_route, fn) in runs.items():
            model.korean = with_route
            out[name] = texts_per_second(fn, texts, cores=threads)[1]
    finally:
        model.korean = route
    return out


def run_parser(description: str) -> argparse.ArgumentParser:
    """The arguments of a benchmark of one kept training run (this script's and
    ``bench_cpu_serving.py``'s)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run_dir", type=Path, help="a kept run (catmatch train --no-publish)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=48)
    return parser


def run_setup(args: argparse.Namespace) -> tuple[list[str], float]:
    """torch's threads set; the titles ``training.measure`` times and the run's temperature."""
    import torch

    from training.measure import speed_texts

    torch.set_num_threads(args.threads)
    temperature = json.loads((args.run_dir / "catmatch.json").read_text())["temperature"]
    return list(speed_texts()), float(temperature)


def main(argv: list[str] | None = None) -> int:
    args = run_parser(__doc__.splitlines()[0]).parse_args(argv)

    from predictor.loading import load_classifier
    from predictor.onnx_runtime import load_onnx
    from training.onnx_export import export_onnx

    texts, temperature = run_setup(args)
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-blend-") as work:
        out = Path(work) / "int8"
        export_onnx(args.run_dir, out, quantization="dynamic-int8",
                    max_length=args.max_length, min_agreement=0.0)
        models = {"torch": load_classifier(args.run_dir, "cpu", args.max_length),
                  "int8": load_onnx(out, "cpu", args.max_length)}
        for _ in range(args.passes):  # the best pass of each counts, as in texts_per_second
            for kind, model in models.items():
                model.temperature = temperature
                row = table.setdefault(kind, {})
                for name, speed in _speeds(model, texts, args.threads).items():
                    row[name] = max(row.get(name, 0.0), speed)
    columns = list(table["torch"])
    print("| runtime | " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for kind, row in table.items():
        print(f"| {kind} | " + " | ".join(f"{row[c]:.0f}" for c in columns) + " |")
    print("| int8 / torch | " + " | ".join(
        f"{table['int8'][c] / table['torch'][c]:.2f}x" for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
