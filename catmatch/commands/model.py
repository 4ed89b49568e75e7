"""``catmatch model``: build model directories offline (nothing is downloaded).

- ``catmatch model tiny --out DIR [--labels a,b,c] [--runtime sklearn [--task regression]]``:
  a tiny random BERT, or a tiny TF-IDF scikit-learn model, for tests (seconds).
- ``catmatch model seed [--out DIR]``: MiniLM + a head fitted on HS descriptions (minutes).
- ``catmatch model info [DIR]``: print a model directory's ``catmatch.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command
from core.modelformat import read_metadata
from core.names import Runtime
from core.settings import Settings


def register(sub: Subparsers) -> None:
    p = add_command(sub, "model", "build the tiny test model or the seed model; show one")
    kinds = add_actions(p, "model_command", "KIND")
    tiny = kinds.add_parser(
        "tiny", help="tiny random BERT + MiniLM tokenizer (or a tiny sklearn model), for tests"
    )
    tiny.add_argument("--out", type=Path, required=True, help="model directory to write")
    tiny.add_argument("--labels", help="comma-separated class names (default: 5 generic ones)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--runtime", choices=(Runtime.TRANSFORMERS.value, Runtime.SKLEARN.value),
                      default=Runtime.TRANSFORMERS.value,
                      help="sklearn: TF-IDF + logistic/ridge regression in model.joblib")
    tiny.add_argument("--task", choices=("classification", "regression"),
                      default="classification", help="job of the sklearn model")
    tiny.set_defaults(func=run_tiny)
    seed = kinds.add_parser("seed", help="MiniLM + head fitted on HS goods descriptions")
    seed.add_argument("--out", type=Path, help="model directory (default: serve.model_dir)")
    seed.add_argument("--steps", type=int, default=300, help="head training steps")
    seed.add_argument("--feature-tokens", type=int, default=48)
    seed.add_argument("--test-fraction", type=float, default=0.2)
    seed.add_argument("--seed", type=int, default=0)
    seed.add_argument("--max-examples", type=int, help="use a subset (quick builds)")
    seed.set_defaults(func=run_seed)
    info = kinds.add_parser("info", help="print a model directory's catmatch.json")
    info.add_argument("dir", type=Path, nargs="?", help="default: serve.model_dir")
    info.set_defaults(func=run_info)


def run_tiny(args: argparse.Namespace, settings: Settings) -> int:
    from training.builders import build_tiny_model, build_tiny_sklearn  # numpy, torch/sklearn

    labels = [s for s in args.labels.split(",")] if args.labels else None
    started = time.perf_counter()
    try:
        if args.runtime == Runtime.SKLEARN:
            out = build_tiny_sklearn(args.out, labels, task=args.task)
        else:
            out = build_tiny_model(args.out, labels, seed=args.seed)
    except (ValueError, FileExistsError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    print(f"tiny model written to {out} in {time.perf_counter() - started:.1f} s")
    return run_info(argparse.Namespace(dir=out), settings)


def run_seed(args: argparse.Namespace, settings: Settings) -> int:
    from training.builders import build_seed_model  # numpy and torch

    out = args.out or settings.serve.model_dir
    if not 0 < args.test_fraction < 1 or args.steps < 1 or args.feature_tokens < 4:
        raise UserError("need 0 < --test-fraction < 1, --steps >= 1, --feature-tokens >= 4")
    started = time.perf_counter()
    try:
        build_seed_model(
            out,
            feature_tokens=args.feature_tokens,
            test_fraction=args.test_fraction,
            steps=args.steps,
            seed=args.seed,
            max_examples=args.max_examples,
        )
    except (FileExistsError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    print(f"seed model written to {out} in {time.perf_counter() - started:.1f} s")
    return run_info(argparse.Namespace(dir=out), settings)


def run_info(args: argparse.Namespace, settings: Settings) -> int:
    model_dir = args.dir or settings.serve.model_dir
    try:
        metadata = read_metadata(model_dir)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if metadata is None:
        raise UserError(f"no catmatch.json in {model_dir}")
    print(json.dumps(json.loads(metadata.model_dump_json()), indent=2))
    return 0
