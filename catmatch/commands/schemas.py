"""``catmatch schemas``: export the message JSON Schemas (or check the committed ones)."""

from __future__ import annotations

import argparse
import sys

from catmatch.options import Subparsers, add_actions, add_command
from core.settings import Settings
from schemas.export import export, stale

DEFAULT_OUT = "schemas/json"


def register(subparsers: Subparsers) -> None:
    parser = add_command(subparsers, "schemas", "export the JSON Schemas of the messages",
                         "JSON Schemas of the product, result and dead-letter messages.")
    sub = add_actions(parser, "schemas_command")
    action = add_command(
        sub,
        "export",
        "write one JSON Schema file per message model",
        (
            "Write product/result/dead_letter .schema.json files (sorted keys, trailing "
            "newline). With --check, write nothing and exit 1 if the files are stale."
        ),
    )
    action.add_argument("--out", default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    action.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when files differ or are missing"
    )
    action.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        outdated = stale(args.out)
        for name in outdated:
            print(f"stale: {args.out}/{name}", file=sys.stderr)
        if outdated:
            print("run: catmatch schemas export", file=sys.stderr)
            return 1
        print(f"up to date: {args.out}")
        return 0
    for path in export(args.out):
        print(path)
    return 0
