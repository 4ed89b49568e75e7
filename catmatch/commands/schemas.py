"""``catmatch schemas``: export the message JSON Schemas (or check the committed ones)."""

from __future__ import annotations

import argparse
import sys

from core.settings import Settings
from schemas.export import export, stale

DEFAULT_OUT = "schemas/json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schemas",
        help="export the JSON Schemas of the messages",
        description="JSON Schemas of the product, result and dead-letter messages.",
    )
    sub = parser.add_subparsers(dest="schemas_command", metavar="ACTION", required=True)
    export = sub.add_parser(
        "export",
        help="write one JSON Schema file per message model",
        description=(
            "Write product/result/dead_letter .schema.json files (sorted keys, trailing "
            "newline). With --check, write nothing and exit 1 if the files are stale."
        ),
    )
    export.add_argument("--out", default=DEFAULT_OUT, help=f"output folder ({DEFAULT_OUT})")
    export.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when files differ or are missing"
    )
    export.set_defaults(func=run)


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
