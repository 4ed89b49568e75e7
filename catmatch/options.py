"""What several commands' parsers share: adding a command, its actions, common options.

Command modules import this module and the layers below, never each other
(``tests/unit/test_layering.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from catmatch.errors import UserError

if TYPE_CHECKING:
    from training.data import DataConfig

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
DEFAULT_DATA_DIR = Path("var/data")


def add_command(
    sub: Subparsers, name: str, help_text: str, description: str | None = None
) -> argparse.ArgumentParser:
    """The parser of command ``name``: ``help_text`` in ``catmatch --help``, ``description``
    (if any) in its own ``--help``."""
    return sub.add_parser(name, help=help_text, description=description)


def add_actions(parser: argparse.ArgumentParser, dest: str, metavar: str = "ACTION"
                ) -> Subparsers:
    """The required sub-commands of ``parser`` (``catmatch topics create``...)."""
    return parser.add_subparsers(dest=dest, metavar=metavar, required=True)


def add_connect_timeout(parser: argparse.ArgumentParser) -> None:
    """``--timeout``: how long a command that asks the cluster waits for it."""
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to reach the cluster (10)"
    )


def add_data_arguments(p: Any, seed_flag: str = "--seed") -> None:
    """The data options shared by ``data prepare`` and ``train`` (``--data-seed`` there)."""
    p.add_argument(seed_flag, dest="data_seed", type=int, default=13,
                   help="seed of the split and the synthetic titles (default 13)")
    p.add_argument("--synthetic-per-class", type=int, default=400,
                   help="synthetic shop titles per class added to train (default 400)")
    p.add_argument("--shop-eval-per-class", type=int, default=20,
                   help="held-out synthetic titles per class in shop_eval (default 20)")


def data_config(args: argparse.Namespace) -> DataConfig:
    """The :class:`training.data.DataConfig` of :func:`add_data_arguments`' options."""
    from training.data import DataConfig  # numpy: only with the training extra

    try:
        return DataConfig(
            seed=args.data_seed,
            synthetic_per_class=args.synthetic_per_class,
            shop_eval_per_class=args.shop_eval_per_class,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
