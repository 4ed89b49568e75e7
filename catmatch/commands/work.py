"""``catmatch work``: run the worker fleet (one process per input partition by default).

The same options and code as ``python -m worker`` (:mod:`worker.main`).
"""

from __future__ import annotations

import argparse

from worker.main import add_arguments, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("work", help="consume products, classify them, produce labels")
    add_arguments(p)
    p.set_defaults(func=run)
