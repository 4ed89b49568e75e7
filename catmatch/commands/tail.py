"""``catmatch tail``: print results, dead letters or any topic's messages as they arrive.

Reads with a fresh ``catmatch-tail-<uuid>`` group that never commits, assigned to every
partition directly (no rebalance wait). :func:`iter_messages` is the Python entry point.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

from catmatch.errors import UserError
from core.settings import Settings
from transport.clients import new_consumer
from transport.configuration import reader_config
from transport.consumer import skip_read_error
from transport.metadata import describe_topic

log = logging.getLogger(__name__)
_POLL_S = 0.5


@dataclass(frozen=True)
class TailMessage:
    """One consumed message (a plain copy, independent of the consumer)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None

    def json(self) -> Any:
        """The value parsed as JSON; ``None`` when it is empty or not JSON."""
        if not self.value:
            return None
        try:
            return json.loads(self.value)
        except ValueError:
            return None


def iter_messages(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    count: int | None = None,
    idle_timeout: float | None = None,
    connect_timeout: float = 10.0,
) -> Iterator[TailMessage]:
    """Yield messages of ``topic`` as they arrive.

    Args:
        settings: the configuration (``kafka`` section).
        topic: the topic to read.
        from_beginning: start at the oldest message instead of the end of each partition.
        count: stop after this many messages.
        idle_timeout: stop after this many seconds without a message.
        connect_timeout: seconds to reach the cluster and find the topic.

    Raises:
        KafkaUnreachable: the cluster is unreachable.
        TopicError: the topic does not exist.
    """
    conf = reader_config(
        settings.kafka, f"catmatch-tail-{uuid.uuid4().hex}", from_beginning=from_beginning
    )
    consumer = new_consumer(conf, quiet=True)
    try:
        described = describe_topic(
            consumer, topic, connect_timeout, settings.kafka.bootstrap_servers
        )
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(topic, p, start) for p in sorted(described.partitions)])
        seen = 0
        last = time.monotonic()
        while count is None or seen < count:
            wait = _POLL_S
            if idle_timeout is not None:
                wait = min(wait, last + idle_timeout - time.monotonic())
                if wait <= 0:
                    return
            msg = consumer.poll(wait)
            if msg is None:
                continue
            if skip_read_error(msg.error(), topic):
                continue
            last = time.monotonic()
            seen += 1
            _, ts = msg.timestamp()
            yield TailMessage(
                topic=msg.topic(),
                partition=msg.partition(),
                offset=msg.offset(),
                key=msg.key(),
                value=msg.value(),
                headers=tuple((k, v or b"") for k, v in (msg.headers() or ())),
                timestamp_ms=ts if ts > 0 else None,
            )
    finally:
        consumer.close()


def _text(data: bytes | None, limit: int = 200) -> str:
    if data is None:
        return "-"
    text = data.decode("utf-8", errors="replace").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_line(message: TailMessage) -> str:
    """One human line, tab-separated, chosen by the message's shape.

    Result: ``product_id, label, score, model_version``. Dead letter: ``original key,
    error_class, reason, source topic/partition@offset``. Product: ``product_id, title``.
    Anything else: ``key, value`` (value shortened).
    """
    data = message.json()
    if isinstance(data, dict):
        if "error_class" in data and "reason" in data:
            import base64

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


def format_json(message: TailMessage) -> str:
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="print results (or dead letters, or any topic) as they arrive",
        description=(
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
