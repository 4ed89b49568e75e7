#!/usr/bin/env python
"""Two workers side by side on one broker: ``python -m worker`` from two trees (git
revisions or directories) and/or with two environments, against the no-op V2 predictor.

After one warm-up round (the broker's JIT), rounds alternate A, B, B, A, A, B, ... on fresh
1-partition topics of N pre-produced products, and the medians are compared: the ratio is
the result, not the absolute rates (these machines are shared).

    .venv/bin/python scripts/compare_workers.py --a bc4e4e4 --b . --count 80000 --pairs 3
    .venv/bin/python scripts/compare_workers.py --a . --b . \\
        --a-env TOKENIZERS_PARALLELISM=true --b-env TOKENIZERS_PARALLELISM=false

A revision is checked out with ``git worktree`` into a temporary directory (removed at the
end); ``.`` is this checkout. Each worker runs with its tree first on ``PYTHONPATH`` and
from a neutral directory, so it imports its own code with this virtualenv's packages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.settings import load_settings  # noqa: E402
from toolbox.bench.stack import BenchStack  # noqa: E402
from toolbox.bench.suite import SuiteConfig, backlog  # noqa: E402
from toolbox.bench.sysstat import Sampler  # noqa: E402


def tree(spec: str, exits: ExitStack, tmp: Path) -> Path:
    """A directory holding the code of ``spec`` (a directory, or a git revision)."""
    if Path(spec).is_dir():
        return Path(spec).resolve()
    where = tmp / f"tree-{spec.replace('/', '_')}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), spec],
                   check=True, capture_output=True)
    exits.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                    str(where)], check=False, capture_output=True)
    return where


def env_pairs(pairs: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default=".", help="tree A: a git revision or a directory")
    parser.add_argument("--b", default=".", help="tree B")
    parser.add_argument("--a-env", action="append", default=[], metavar="K=V")
    parser.add_argument("--b-env", action="append", default=[], metavar="K=V")
    parser.add_argument("--count", type=int, default=80_000, help="products per round")
    parser.add_argument("--pairs", type=int, default=3, help="rounds of each")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "var/models/seed",
                        help="whose tokenizer.json the workers use")
    args = parser.parse_args()
    settings = load_settings()
    batch = settings.worker.batch_size
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as exits:
        work = Path(tmp)
        variants = {
            "A": (tree(args.a, exits, work), env_pairs(args.a_env)),
            "B": (tree(args.b, exits, work), env_pairs(args.b_env)),
        }
        os.chdir(tmp)  # so that `python -m worker` does not import this checkout's code
        sampler = Sampler().start()
        stack = BenchStack(settings, work / "bench", exits, sampler)
        noop = stack.noop()
        cfg = SuiteConfig(model_dir=args.model_dir.resolve(), work=work / "bench")
        base = dict(stack.env)
        order = ["B"] + [k for i in range(args.pairs)
                         for k in (("A", "B") if i % 2 == 0 else ("B", "A"))]
        rows: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for r, name in enumerate(order):
            code, extra = variants[name]
            stack.env = {**base, "PYTHONPATH": str(code), **extra}
            row = backlog(stack, cfg, "worker_noop", noop, args.count, False, batch)
            cpu_us = row["cpu_cores"] / row["per_s"] * 1e6
            label = "warm-up" if r == 0 else name
            print(f"\nround {r} {label}: {row['per_s']:,.0f} products/s, worker "
                  f"{row['cpu_cores']:.2f} cores, {cpu_us:.1f} µs CPU/product", flush=True)
            if r:
                rows[name].append(row)
        sampler.stop()
    medians = {k: statistics.median(r["per_s"] for r in v) for k, v in rows.items()}
    for name, spec, envs in (("A", args.a, args.a_env), ("B", args.b, args.b_env)):
        cpu = statistics.median(r["cpu_cores"] / r["per_s"] * 1e6 for r in rows[name])
        print(f"{name} ({spec} {' '.join(envs)}): median {medians[name]:,.0f} products/s, "
              f"{cpu:.1f} µs CPU/product")
    print(f"B / A (medians): {medians['B'] / medians['A']:.2f}x")


if __name__ == "__main__":
    main()
