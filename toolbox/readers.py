"""Reading topics from outside the pipeline, with readers that never commit.

Two ways to read, both with a fresh group and partitions assigned directly (no rebalance
wait, no trace left on the cluster):

- :func:`iter_messages` follows a topic as messages arrive (``catmatch tail``, the demo);
- :func:`read_to_end` reads every partition from its start up to the end found when reading
  began, so it terminates even while producers keep writing (``catmatch dlq``, the drills).

Both yield :class:`ConsumedMessage`, a plain copy that outlives the consumer.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Message, TopicPartition

from core.settings import Settings
from toolbox.errors import ToolboxError
from transport.clients import new_consumer
from transport.configuration import admin_config, reader_config
from transport.consumer import skip_read_error
from transport.metadata import describe_topic, read_committed_bounds

log = logging.getLogger(__name__)
_POLL_S = 0.5

Headers = tuple[tuple[str, bytes], ...]


class ReadStalled(ToolboxError):
    """A topic stopped yielding records before the end offsets it was read up to."""


@dataclass(frozen=True)
class ConsumedMessage:
    """One consumed message (a plain copy, independent of the consumer)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int | None = None

    def json(self) -> Any:
        """The value parsed as JSON; ``None`` when it is empty or not JSON."""
        if not self.value:
            return None
        try:
            return json.loads(self.value)
        except ValueError:
            return None

    def header_values(self, name: str) -> list[bytes]:
        return [value for key, value in self.headers if key == name]


def _copy(msg: Message) -> ConsumedMessage:
    _, ts = msg.timestamp()
    headers = msg.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return ConsumedMessage(
        topic=msg.topic() or "",
        partition=msg.partition() or 0,
        offset=msg.offset() or 0,
        key=_bytes(msg.key()),
        value=_bytes(msg.value()),
        headers=tuple((k, _bytes(v) or b"") for k, v in pairs),
        timestamp_ms=ts if ts > 0 else None,
    )


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


def iter_messages(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    count: int | None = None,
    idle_timeout: float | None = None,
    connect_timeout: float = 10.0,
) -> Generator[ConsumedMessage, None, None]:
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
            consumer, topic, connect_timeout, settings.kafka.bootstrap_servers, conf
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
            if msg is None or skip_read_error(msg.error(), topic, conf):
                continue
            last = time.monotonic()
            seen += 1
            yield _copy(msg)
    finally:
        consumer.close()


def read_to_end(
    settings: Settings,
    topic: str,
    *,
    connect_timeout: float = 10.0,
    stall_timeout: float = 30.0,
) -> Generator[ConsumedMessage, None, None]:
    """Yield every record of ``topic`` below the end offsets read at the start.

    The ends are what a ``read_committed`` reader reaches (the reader's isolation level), so
    records of open or aborted transactions are never waited for.

    Args:
        settings: the configuration (``kafka`` section).
        topic: the topic to read.
        connect_timeout: seconds to reach the cluster, find the topic and its offsets.
        stall_timeout: give up when no partition advances for this many seconds.

    Raises:
        KafkaUnreachable: the cluster is unreachable.
        TopicError: the topic does not exist or cannot be read.
        ReadStalled: reading stalled before the end offsets.
    """
    conf = reader_config(settings.kafka, f"catmatch-dlq-{uuid.uuid4().hex}", from_beginning=True)
    consumer = new_consumer(conf, quiet=True)
    try:
        described = describe_topic(
            consumer, topic, connect_timeout, settings.kafka.bootstrap_servers, conf
        )
        bounds = read_committed_bounds(
            admin_config(settings.kafka), topic, described.partitions, timeout=connect_timeout
        )
        ends = {p: end for p, (start, end) in bounds.items() if end > start}
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, bounds[p][0]) for p in sorted(ends)])
        last_progress = time.monotonic()
        while ends:
            msg = consumer.poll(_POLL_S)
            if msg is None:
                # Transaction markers are never delivered but do move the position.
                before = len(ends)
                for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                    if tp.offset >= ends[tp.partition]:
                        del ends[tp.partition]
                if len(ends) < before:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > stall_timeout:
                    raise ReadStalled(
                        f"reading {topic} stalled for {stall_timeout:g} s before the end of "
                        f"partition(s) {', '.join(map(str, sorted(ends)))}"
                    )
                continue
            if skip_read_error(msg.error(), topic, conf):
                continue
            last_progress = time.monotonic()
            record = _copy(msg)
            end = ends.get(record.partition)
            if end is None or record.offset >= end:  # beyond the end found at the start
                ends.pop(record.partition, None)
                continue
            if record.offset >= end - 1:
                del ends[record.partition]
            yield record
    finally:
        consumer.close()
