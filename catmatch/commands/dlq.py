"""``catmatch dlq``: look at the dead-letter topic (``stats``) and replay it (``replay``).

Both read the whole topic once, up to the end offsets found at the start, with a reader that
never commits. The logic lives in :mod:`toolbox.dlq`; this module parses and prints.
"""

from __future__ import annotations

import argparse
import json

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command, add_connect_timeout
from core.settings import Settings
from schemas.dead_letter import ErrorClass
from toolbox import dlq


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "dlq",
        "dead letters: counts by error class and reason; replay them after a fix",
        (
            "Read the dead-letter topic from the beginning up to its current end (it stops on "
            "its own; nothing is committed). 'stats' counts; 'replay' sends the original "
            "messages back to the input topic."
        ),
    )
    sub = add_actions(parser, "dlq_command")
    times = "ISO-8601 (2026-11-26T12:00:00Z; no zone = UTC) or a time ago (30m, 2h, 1d)"

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        action = add_command(sub, name, help_text, description)
        action.add_argument("--topic", help="dead-letter topic (default: topics.dead_letter)")
        action.add_argument("--since", metavar="T", help=f"failed at or after T: {times}")
        action.add_argument("--json", action="store_true", help="print one JSON object")
        add_connect_timeout(action)
        action.set_defaults(func=run)
        return action

    stats = add(
        "stats",
        "count dead letters by error class and reason",
        "Count the dead letters by error class and, within each class, the most frequent "
        "reasons (whitespace collapsed, cut at 80 characters); the total, the oldest and "
        "newest failed_time, how many are truncated (not replayable) and how many records "
        "are not dead-letter JSON at all (unreadable, counted whatever --since says).",
    )
    stats.add_argument(
        "--top", type=int, default=dlq.DEFAULT_TOP,
        help=f"reasons shown per class ({dlq.DEFAULT_TOP})",
    )
    again = add(
        "replay",
        "send selected dead letters' original messages back to the input topic",
        "Produce each selected dead letter's original key and value, byte for byte, to the "
        "input topic with the header catmatch.replay_count = its previous count + 1. "
        "Truncated originals are skipped; dead letters replayed --max-replays times already "
        "are refused. Exit status 1 when any delivery failed.",
    )
    again.add_argument(
        "--error-class",
        action="extend",
        nargs="+",
        metavar="CLASS",
        help=f"only these classes (repeat or comma-separate): {', '.join(ErrorClass)}",
    )
    again.add_argument("--until", metavar="T", help="failed before T (same forms as --since)")
    again.add_argument("--limit", type=int, help="replay at most N messages")
    again.add_argument("--dry-run", action="store_true", help="produce nothing; report counts")
    again.add_argument(
        "--max-replays",
        type=int,
        default=dlq.DEFAULT_MAX_REPLAYS,
        help=f"refuse dead letters already replayed N times ({dlq.DEFAULT_MAX_REPLAYS})",
    )
    again.add_argument("--to", metavar="TOPIC", help="target topic (default: topics.input)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.timeout <= 0:
        raise UserError("--timeout must be > 0")
    since = dlq.parse_time(args.since) if args.since else None
    if args.dlq_command == "stats":
        if args.top < 0:
            raise UserError("--top must be >= 0")
        stats = dlq.dlq_stats(settings, topic=args.topic, since=since,
                              connect_timeout=args.timeout)
        if args.json:
            print(json.dumps(stats.to_json(args.top), ensure_ascii=False))
        else:
            print(dlq.format_stats(stats, args.top))
        return 0
    until = dlq.parse_time(args.until) if args.until else None
    selection = dlq.Selection(dlq.parse_error_classes(args.error_class), since, until)
    report = dlq.replay(settings, selection, topic=args.topic, to=args.to,
                        max_replays=args.max_replays, limit=args.limit, dry_run=args.dry_run,
                        connect_timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(report.summary())
        for error, count in report.errors.most_common():
            print(f"  {count} x {error}")
    return 1 if report.failed else 0
