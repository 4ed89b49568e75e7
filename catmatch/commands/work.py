"""``catmatch work``: run the worker fleet (one process per input partition by default).

The same options and code as ``python -m worker`` (:mod:`worker.main`).
"""

from __future__ import annotations

from catmatch.options import Subparsers, add_command
from worker.main import add_arguments, run


def register(sub: Subparsers) -> None:
    p = add_command(sub, "work", "consume products, classify them, produce labels")
    add_arguments(p)
    p.set_defaults(func=run)
