"""``catmatch produce``: send product messages from a file, stdin or the generator.

The sending is :mod:`toolbox.produce`; this module parses arguments, picks the input, shows
progress and prints the summary.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command
from core.settings import Settings
from toolbox.produce.progress import ProgressLine
from toolbox.produce.sender import ProduceReport, produce_generated, produce_products
from toolbox.produce.sources import InvalidRecord, detect_format, open_records

DEFAULT_GENERATE_COUNT = 1000
MAX_SHOWN_INVALID = 20


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "produce",
        "send product messages (file, stdin or generated) to the input topic",
        (
            "Send product messages to the input topic, keyed by product id. Records are "
            "validated first; invalid ones are reported and not sent (unless --raw). Prints "
            "'delivered N, failed M' at the end; the exit status is 1 when any message failed "
            "or any input record was invalid."
        ),
    )
    parser.add_argument(
        "input", nargs="?", help="JSONL or CSV file ('-' = stdin); omit with --generate"
    )
    parser.add_argument(
        "--generate", action="store_true", help="send synthetic products from the generator"
    )
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), help="input format (default: by file extension)"
    )
    parser.add_argument(
        "--count", type=int, help=f"generator: how many ({DEFAULT_GENERATE_COUNT}); files: at most"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (0)")
    parser.add_argument(
        "--start", type=int, default=0, help="generator: first product number (0)"
    )
    parser.add_argument(
        "--with-truth", metavar="FILE", help="generator: write product_id,category CSV here"
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="messages per second; 0 = as fast as possible"
    )
    parser.add_argument(
        "--raw", action="store_true", help="send JSONL lines as they are, unvalidated (DLQ tests)"
    )
    parser.add_argument("--topic", help="topic (default: topics.input)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if args.generate == bool(args.input):
        raise UserError("give an input file (or '-' for stdin) or --generate, not both")
    if args.count is not None and args.count < 0:
        raise UserError("--count must be >= 0")
    if args.rate < 0:
        raise UserError("--rate must be >= 0")
    if args.generate and args.raw:
        raise UserError("--raw sends input lines as they are; it does not apply to --generate")
    if not args.generate and (args.with_truth or args.start):
        raise UserError("--with-truth and --start apply to --generate only")


def run(args: argparse.Namespace, settings: Settings) -> int:
    _check_args(args)
    shown = 0

    def on_invalid(invalid: InvalidRecord) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_SHOWN_INVALID:
            progress.close()
            print(f"catmatch produce: invalid {invalid}", file=sys.stderr)

    count = args.count
    if args.generate and count is None:
        count = DEFAULT_GENERATE_COUNT
    progress = ProgressLine(total=count, enabled=False if args.quiet else None)

    def on_progress(report: ProduceReport) -> None:
        progress.update(report.delivered, report.failed, report.rate)

    options: dict[str, Any] = {
        "topic": args.topic,
        "rate": args.rate,
        "on_progress": on_progress,
        "on_invalid": on_invalid,
    }
    if args.generate:
        assert count is not None
        report = produce_generated(
            settings, count, args.seed, start=args.start, truth_path=args.with_truth, **options
        )
    else:
        if args.raw and detect_format(args.input, args.format) != "jsonl":
            raise UserError("--raw sends JSONL lines as they are; it does not apply to CSV")
        with open_records(args.input, args.format) as records:
            limited = records if count is None else itertools.islice(records, count)
            report = produce_products(settings, limited, raw=args.raw, **options)
    progress.close()
    if report.invalid:
        hidden = report.invalid - min(shown, MAX_SHOWN_INVALID)
        more = f" ({hidden} not shown)" if hidden else ""
        print(
            f"catmatch produce: skipped {report.invalid} invalid record(s){more}",
            file=sys.stderr,
        )
    for error, times in report.errors.most_common(5):
        print(f"catmatch produce: {times} failed: {error}", file=sys.stderr)
    if not args.quiet:
        print(
            f"catmatch produce: {report.delivered:,} to {report.topic} in "
            f"{report.elapsed_s:.2f} s ({report.rate:,.0f} msg/s)",
            file=sys.stderr,
        )
    print(report.summary())
    return 1 if report.failed or report.invalid else 0
