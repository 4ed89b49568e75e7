"""Read a whole dead-letter topic once: every partition from its start up to the end found
when reading began, so the read terminates even while workers keep dead-lettering.

The consumer never commits (``transport.configuration.reader_config``) and is assigned its
partitions directly, so reading leaves no trace on the cluster.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Generator

from confluent_kafka import TopicPartition

from catmatch.dlq.records import DlqRecord
from core.errors import CatmatchError
from core.settings import Settings
from transport.clients import new_consumer
from transport.configuration import reader_config
from transport.consumer import skip_read_error
from transport.metadata import describe_topic, read_committed_bounds

log = logging.getLogger(__name__)
_POLL_S = 0.5


class DlqReadError(CatmatchError):
    """The dead-letter topic stopped yielding records before its end offsets."""


def read_records(
    settings: Settings,
    topic: str,
    *,
    connect_timeout: float = 10.0,
    stall_timeout: float = 30.0,
) -> Generator[DlqRecord, None, None]:
    """Yield every record of ``topic`` below the end offsets read at the start.

    Args:
        settings: the configuration (``kafka`` section).
        topic: the topic to read (the dead-letter topic).
        connect_timeout: seconds to reach the cluster, find the topic and its offsets.
        stall_timeout: give up when no partition advances for this many seconds.

    Raises:
        KafkaUnreachable: the cluster is unreachable.
        TopicError: the topic does not exist or cannot be read.
        DlqReadError: reading stalled before the end offsets.
    """
    conf = reader_config(settings.kafka, f"catmatch-dlq-{uuid.uuid4().hex}", from_beginning=True)
    consumer = new_consumer(conf, quiet=True)
    try:
        described = describe_topic(
            consumer, topic, connect_timeout, settings.kafka.bootstrap_servers
        )
        bounds = read_committed_bounds(
            settings.kafka.client_config(), topic, described.partitions, timeout=connect_timeout
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
                    raise DlqReadError(
                        f"reading {topic} stalled for {stall_timeout:g} s before the end of "
                        f"partition(s) {', '.join(map(str, sorted(ends)))}"
                    )
                continue
            if skip_read_error(msg.error(), topic):
                continue
            last_progress = time.monotonic()
            partition, offset = msg.partition() or 0, msg.offset() or 0
            end = ends.get(partition)
            if end is None or offset >= end:  # beyond the end found at the start
                ends.pop(partition, None)
                continue
            if offset >= end - 1:
                del ends[partition]
            yield DlqRecord(
                partition=partition,
                offset=offset,
                key=_bytes(msg.key()),
                value=_bytes(msg.value()),
                headers=tuple((k, _bytes(v) or b"") for k, v in (msg.headers() or ())),
            )
    finally:
        consumer.close()


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data
