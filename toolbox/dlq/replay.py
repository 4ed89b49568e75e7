"""``catmatch dlq replay``: send selected dead letters' original messages back to the input.

Each replayed message is the original key and value, byte for byte, with the header
``catmatch.replay_count`` one higher than the dead letter's own (a worker copies the header
of an input message onto its dead letter), so a message that keeps failing stops coming
back after ``max_replays``. Truncated originals cannot be replayed.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from core.settings import Settings
from schemas.dead_letter import HEADER_REPLAY_COUNT
from toolbox.dlq.records import Entry, Selection, read_entry
from toolbox.errors import InvalidRequest
from toolbox.readers import ConsumedMessage, read_to_end
from transport.clients import new_producer
from transport.configuration import producer_config
from transport.logs import once_per_error
from transport.metadata import describe_topic
from transport.producer import produce_waiting

DEFAULT_MAX_REPLAYS = 3
PRODUCER_DEFAULTS: dict[str, Any] = {"message.timeout.ms": 60_000}
_INTERRUPTED_FLUSH_S = 5.0


class Decision(StrEnum):
    """What happens to a selected dead letter."""

    REPLAY = "replay"
    TRUNCATED = "skipped_truncated"
    MAX_REPLAYS = "refused_max_replays"


@dataclass(frozen=True)
class ReplayMessage:
    """The input message to produce for one dead letter."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


def decide(entry: Entry, max_replays: int) -> Decision:
    """Truncated originals are skipped; a count that reached ``max_replays`` is refused."""
    if entry.truncated:
        return Decision.TRUNCATED
    if entry.replay_count >= max_replays:
        return Decision.MAX_REPLAYS
    return Decision.REPLAY


def replay_message(entry: Entry) -> ReplayMessage:
    """The original key and value with ``catmatch.replay_count`` = previous count + 1."""
    header = (HEADER_REPLAY_COUNT, str(entry.replay_count + 1).encode("ascii"))
    return ReplayMessage(entry.original_key, entry.original_value, [header])


@dataclass
class ReplayReport:
    """What ``replay`` did (or, with ``dry_run``, would do)."""

    topic: str
    target: str
    dry_run: bool = False
    scanned: int = 0  # records read from the dead-letter topic
    unreadable: int = 0  # not valid DeadLetter JSON (never selected)
    selected: int = 0  # matched the selection (before the rules below)
    skipped_truncated: int = 0
    refused_max_replays: int = 0
    sent: int = 0  # handed to the producer (with dry_run: would be)
    replayed: int = 0  # delivery acknowledged
    failed: int = 0  # delivery failed
    errors: Counter[str] = field(default_factory=Counter)

    def count(self, decision: Decision) -> None:
        if decision is Decision.TRUNCATED:
            self.skipped_truncated += 1
        elif decision is Decision.MAX_REPLAYS:
            self.refused_max_replays += 1

    def summary(self) -> str:
        done = f"would replay {self.sent}" if self.dry_run else f"replayed {self.replayed}"
        return (
            f"{done} to {self.target}; selected {self.selected}, skipped_truncated "
            f"{self.skipped_truncated}, refused_max_replays {self.refused_max_replays}, "
            f"unreadable {self.unreadable}, failed {self.failed}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "target": self.target,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "selected": self.selected,
            "replayed": self.replayed,
            "would_replay": self.sent if self.dry_run else None,
            "skipped_truncated": self.skipped_truncated,
            "refused_max_replays": self.refused_max_replays,
            "unreadable": self.unreadable,
            "failed": self.failed,
            "errors": dict(self.errors),
        }


def plan_replay(
    records: Iterable[ConsumedMessage],
    report: ReplayReport,
    selection: Selection,
    *,
    max_replays: int = DEFAULT_MAX_REPLAYS,
    limit: int | None = None,
) -> Iterable[ReplayMessage]:
    """The messages to replay, counting everything into ``report`` (pure: no Kafka).

    Stops once ``limit`` messages are planned (records after that are not read).
    """
    for record in records:
        if limit is not None and report.sent >= limit:
            return
        report.scanned += 1
        entry = read_entry(record)
        if entry is None:
            report.unreadable += 1
            continue
        if not selection.matches(entry.letter):
            continue
        report.selected += 1
        decision = decide(entry, max_replays)
        if decision is not Decision.REPLAY:
            report.count(decision)
            continue
        report.sent += 1
        yield replay_message(entry)


def replay(
    settings: Settings,
    selection: Selection | None = None,
    *,
    topic: str | None = None,
    to: str | None = None,
    max_replays: int = DEFAULT_MAX_REPLAYS,
    limit: int | None = None,
    dry_run: bool = False,
    connect_timeout: float = 10.0,
    flush_timeout: float = 60.0,
) -> ReplayReport:
    """Replay selected dead letters of ``topic`` (``topics.dead_letter``) to ``to``
    (``topics.input``) with an idempotent producer; wait for every delivery.

    Raises:
        InvalidRequest: a bad argument (``max_replays`` < 1, ``limit`` < 1, ``to`` = ``topic``).
        KafkaUnreachable: the cluster is unreachable.
        TopicError: a topic does not exist.
        ReadStalled: reading the dead-letter topic stalled.
    """
    topic = topic or settings.topics.dead_letter
    to = to or settings.topics.input
    if to == topic:
        raise InvalidRequest(f"replaying {topic} into itself")
    if max_replays < 1:
        raise InvalidRequest("--max-replays must be >= 1")
    if limit is not None and limit < 1:
        raise InvalidRequest("--limit must be >= 1")
    report = ReplayReport(topic=topic, target=to, dry_run=dry_run)
    conf = producer_config(settings.kafka, defaults=PRODUCER_DEFAULTS)
    producer = new_producer(conf, quiet=True, error_cb=once_per_error(conf))
    describe_topic(producer, to, connect_timeout, settings.kafka.bootstrap_servers, conf)

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            report.replayed += 1
        else:
            report.failed += 1
            report.errors[err.str()] += 1

    with contextlib.closing(read_to_end(settings, topic, connect_timeout=connect_timeout)) as rs:
        planned = plan_replay(
            rs, report, selection or Selection(), max_replays=max_replays, limit=limit
        )
        try:
            for message in planned:
                if not dry_run:
                    _produce(producer, to, message, delivered)
        except BaseException:  # interrupted or reading failed: report what was delivered
            _flush(producer, report, min(flush_timeout, _INTERRUPTED_FLUSH_S))
            raise
    _flush(producer, report, flush_timeout)
    return report


def _produce(producer: Producer, topic: str, message: ReplayMessage, on_delivery: Any) -> None:
    record = (topic, message.key, message.value, list(message.headers))
    produce_waiting(producer, record, on_delivery)
    producer.poll(0)


def _flush(producer: Producer, report: ReplayReport, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if producer.flush(min(remaining, 1.0)) == 0:
            return
    left = len(producer)
    if left:
        report.failed += left
        report.errors[f"not delivered within the {timeout:g} s flush timeout"] += left
