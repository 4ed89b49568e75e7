"""``catmatch status``: topics, the worker group and its lag, rates, dead letters, predictor.

The work is in :mod:`toolbox.status`; this module parses arguments, prints and refreshes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command, add_connect_timeout
from core.errors import CatmatchError
from core.settings import Settings
from toolbox.status import DlqCache, collect_status, format_status

CLEAR = "\033[H\033[2J"


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "status",
        "one screen: topics, group members and lag, rates, dead letters, predictor",
        "Show the pipeline at a glance: the three topics (partitions, messages, "
        "rates), the worker group's members with their partitions and the lag per input "
        "partition, dead letters by error class, and the predictor's state and live model "
        "version. Rates come from the end offsets sampled twice (--interval apart, or "
        "since the previous refresh with --watch).",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per report")
    parser.add_argument(
        "--watch", type=float, metavar="N", help="refresh every N seconds (Ctrl-C stops)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between the two offset samples of the first report (2; 0: no rates)",
    )
    parser.add_argument("--group", help="consumer group (default: worker.group_id)")
    parser.add_argument("--no-dlq", action="store_true", help="do not read the dead-letter topic")
    add_connect_timeout(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.timeout <= 0 or args.interval < 0:
        raise UserError("--timeout must be positive and --interval not negative")
    if args.watch is not None and args.watch <= 0:
        raise UserError("--watch needs a positive number of seconds")
    cache = DlqCache()
    previous = None
    while True:
        try:
            report, previous = collect_status(
                settings,
                group=args.group,
                previous=previous,
                interval_s=args.interval,
                timeout=args.timeout,
                dead_letters=not args.no_dlq,
                dlq_cache=cache,
            )
        except CatmatchError as exc:  # under --watch: shown, and tried again next time
            if args.watch is None:
                raise
            report, previous, error = None, None, str(exc)
        if args.json:
            print(json.dumps(report if report is not None else {"error": error}), flush=True)
        else:
            screen = format_status(report) if report is not None else f"catmatch status: {error}"
            if args.watch is not None and sys.stdout.isatty():
                sys.stdout.write(CLEAR)
            print(screen, flush=True)
        if args.watch is None:
            return 0
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0
