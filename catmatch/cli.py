"""``catmatch``: the single command line of category-match.

The top layer: nothing imports it. Each subcommand lives in its own module under
``catmatch/commands/`` exposing ``register(subparsers)``; it parses arguments, calls the
layers below (the tools in ``toolbox/``, the services, training) and prints. A module's heavy
imports (torch, transformers, kserve, sklearn) happen inside its ``run``, so
``catmatch --help`` stays fast. The images do not carry the CLI: the worker image runs
``python -m worker`` and the predictor image ``python -m predictor``; ``catmatch work`` and
``catmatch serve`` are the same entry points for a checkout. Every library error is a
:class:`~core.errors.CatmatchError`; this module prints it as one line and exits with 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from core.errors import CatmatchError
from core.settings import load_settings

# Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "catmatch.commands.broker",
    "catmatch.commands.topics",
    "catmatch.commands.acls",
    "catmatch.commands.status",
    "catmatch.commands.produce",
    "catmatch.commands.tail",
    "catmatch.commands.dlq",
    "catmatch.commands.serve",
    "catmatch.commands.work",
    "catmatch.commands.model",
    "catmatch.commands.models",
    "catmatch.commands.data",
    "catmatch.commands.train",
    "catmatch.commands.schemas",
    "catmatch.commands.demo",
    "catmatch.commands.drill",
    "catmatch.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catmatch",
        description="Streaming product categorisation: Kafka workers + a KServe predictor.",
    )
    parser.add_argument("--config", help="YAML settings file (default: $CATMATCH_CONFIG)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        return int(args.func(args, settings) or 0)
    except CatmatchError as exc:
        print(f"catmatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
