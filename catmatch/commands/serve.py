"""``catmatch serve``: the KServe predictor (``kserve.ModelServer`` + our ``kserve.Model``).

Same as ``python -m predictor``. Every argument after ``serve`` goes to the predictor's own
parser, which extends KServe's ``ModelServer`` parser, so KServe's flags (``--workers``,
``--enable_grpc``, ...) work here unchanged. ``catmatch serve --help`` lists them all.
"""

from __future__ import annotations

import argparse

from catmatch.options import Subparsers
from core.settings import Settings
from predictor.server import main


def register(sub: Subparsers) -> None:
    # prefix_chars="+" makes this subparser treat "--model-dir" etc. as plain strings, so
    # they all land in serve_args unparsed; the real parser needs kserve, imported when run.
    p = sub.add_parser(
        "serve",
        help="serve the classifier with kserve.ModelServer (V1 + V2 REST); --help for options",
        add_help=False,
        prefix_chars="+",
    )
    p.add_argument("serve_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return main(args.serve_args, settings=settings, prog="catmatch serve")
