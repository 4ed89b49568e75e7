"""``catmatch tail``: print results, dead letters or any topic's messages as they arrive.

Reads with :func:`toolbox.readers.iter_messages` (a fresh group that never commits, every
partition assigned directly); this module parses arguments and formats each message.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command
from core.settings import Settings
from toolbox.readers import ConsumedMessage, iter_messages


def _text(data: bytes | None, limit: int = 200) -> str:
    if data is None:
        return "-"
    text = data.decode("utf-8", errors="replace").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_line(message: ConsumedMessage) -> str:
    """One human line, tab-separated, chosen by the message's shape.

    Result: ``product_id, label, score, model_version``. Dead letter: ``original key,
    error_class, reason, source topic/partition@offset``. Product: ``product_id, title``.
    Anything else: ``key, value`` (value shortened).
    """
    data = message.json()
    if isinstance(data, dict):
        if "error_class" in data and "reason" in data:
            key = data.get("original_key_b64")
            key_text = _text(base64.b64decode(key)) if isinstance(key, str) else "-"
            source = (
                f"{data.get('source_topic')}/{data.get('source_partition')}"
                f"@{data.get('source_offset')}"
            )
            reason = str(data["reason"]).replace("\n", " ")
            return "\t".join((key_text, str(data["error_class"]), reason, source))
        if "label" in data and "score" in data:
            score = data["score"]
            score_text = f"{score:.3f}" if isinstance(score, int | float) else str(score)
            return "\t".join(
                (str(data.get("product_id")), str(data["label"]), score_text,
                 str(data.get("model_version", "-")))
            )
        if "title" in data:
            return f"{data.get('product_id')}\t{data['title']}"
    return f"{_text(message.key)}\t{_text(message.value)}"


def format_json(message: ConsumedMessage) -> str:
    """The value as one compact JSON line; a JSON envelope when the value is not JSON."""
    data = message.json()
    if data is not None:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(
        {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "key": None if message.key is None else message.key.decode("utf-8", "replace"),
            "value": None if message.value is None else message.value.decode("utf-8", "replace"),
        },
        ensure_ascii=False,
    )


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "tail",
        "print results (or dead letters, or any topic) as they arrive",
        (
            "Print messages as they arrive, one line each: results (product id, label, score, "
            "model version), dead letters (key, error class, reason, source offset) or any "
            "topic. Uses a fresh consumer group and commits nothing. The exit status is 1 "
            "when --count was not reached before --timeout."
        ),
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--dlq", action="store_true", help="read the dead-letter topic")
    which.add_argument("--topic", help="read this topic (default: topics.output)")
    parser.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest message"
    )
    parser.add_argument("--count", type=int, help="exit after N messages")
    parser.add_argument("--timeout", type=float, help="exit after S idle seconds")
    parser.add_argument("--json", action="store_true", help="print the raw JSON values")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.count is not None and args.count < 1:
        raise UserError("--count must be >= 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UserError("--timeout must be > 0")
    topic = args.topic or (settings.topics.dead_letter if args.dlq else settings.topics.output)
    fmt = format_json if args.json else format_line
    seen = 0
    try:
        for message in iter_messages(
            settings,
            topic,
            from_beginning=args.from_beginning,
            count=args.count,
            idle_timeout=args.timeout,
        ):
            print(fmt(message), flush=True)
            seen += 1
    except BrokenPipeError:  # e.g. piped into `head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 0
    if args.count is not None and seen < args.count:
        print(
            f"catmatch tail: {seen} of {args.count} messages before the timeout",
            file=sys.stderr,
        )
        return 1
    return 0
