"""Send product messages to Kafka: validation, pacing, an idempotent producer, a report.

``produce_products`` is the function the CLI, the demo and the tests call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from core.settings import Settings
from toolbox.produce.pacing import TokenBucket
from toolbox.produce.sources import InputRecord, InvalidRecord, parse_line, raw_key, to_message
from training.generator import SYNTHETIC_HEADER, TruthWriter, generate_products
from transport.clients import new_producer
from transport.configuration import producer_config as transport_producer_config
from transport.logs import once_per_error
from transport.metadata import describe_topic
from transport.producer import produce_waiting

log = logging.getLogger(__name__)

Record = Mapping[str, Any] | bytes | str | InputRecord
Headers = Sequence[tuple[str, bytes]]

PRODUCER_DEFAULTS: dict[str, Any] = {"message.timeout.ms": 60_000}
_PROGRESS_EVERY_S = 0.1
_INTERRUPTED_FLUSH_S = 5.0
_POLL_EVERY = 64  # serve delivery callbacks every N messages


@dataclass
class ProduceReport:
    """What happened to the records handed to :func:`produce_products`."""

    topic: str
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    invalid: int = 0
    elapsed_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        """Delivered messages per second."""
        return self.delivered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        """The CLI's final line: ``delivered N, failed M``."""
        return f"delivered {self.delivered}, failed {self.failed}"


def producer_config(
    settings: Settings, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """librdkafka config: defaults < ``kafka`` settings < overrides; idempotence always on."""
    return transport_producer_config(settings.kafka, overrides, defaults=PRODUCER_DEFAULTS)


def prepare_record(item: Record, raw: bool, index: int) -> tuple[bytes | None, bytes]:
    """``(key, value)`` for one record, as :func:`produce_products` sends it.

    Raises:
        InvalidRecord: not a valid product (never in raw mode).
    """
    if isinstance(item, InputRecord):
        if raw:
            return raw_key(item.raw), item.raw
        if item.error is not None or item.fields is None:
            raise InvalidRecord(item.where, item.error or "no fields")
        key, value = to_message(item.fields, item.where)
        return key.encode(), value
    if isinstance(item, str):
        item = item.encode()
    if isinstance(item, bytes):
        if raw:
            return raw_key(item), item
        parsed = parse_line(item, f"record {index}")
        if parsed is None:
            raise InvalidRecord(f"record {index}", "empty")
        return prepare_record(parsed, raw, index)
    if raw:
        value = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        return raw_key(value), value
    key, value = to_message(dict(item), f"record {index}")
    return key.encode(), value


def produce_products(
    settings: Settings,
    records: Iterable[Record],
    *,
    topic: str | None = None,
    rate: float = 0.0,
    raw: bool = False,
    headers: Headers | None = None,
    on_progress: Callable[[ProduceReport], None] | None = None,
    on_invalid: Callable[[InvalidRecord], None] | None = None,
    producer_overrides: Mapping[str, Any] | None = None,
    connect_timeout: float = 10.0,
    flush_timeout: float = 60.0,
) -> ProduceReport:
    """Validate and send product records, keyed by product id; wait for every delivery.

    Args:
        settings: the configuration (``kafka`` section; ``topics.input`` by default).
        records: dicts of product fields, JSON lines (``bytes``/``str``) or
            :class:`~toolbox.produce.sources.InputRecord` from a file.
        topic: overrides ``settings.topics.input``.
        rate: messages per second (token bucket); 0 = as fast as possible.
        raw: send lines as they are, without validation (for dead-letter tests); the key is
            the ``product_id`` when the line is a JSON object that has one.
        headers: Kafka headers for every message (e.g. the synthetic marker).
        on_progress: called with the running report about every 0.1 s and at the end.
        on_invalid: called for each record that is not a valid product (not sent).
        producer_overrides: extra librdkafka settings.
        connect_timeout: seconds to reach the cluster and find the topic.
        flush_timeout: seconds to wait for outstanding deliveries at the end; messages still
            undelivered then count as failed.

    Raises:
        KafkaUnreachable: the cluster is unreachable.
        TopicError: the topic does not exist.
    """
    topic = topic or settings.topics.input
    report = ProduceReport(topic=topic)
    conf = producer_config(settings, producer_overrides)
    producer = new_producer(conf, quiet=True, error_cb=once_per_error(conf))
    describe_topic(producer, topic, connect_timeout, settings.kafka.bootstrap_servers, conf)

    def delivered(err: Any, _msg: Any) -> None:
        if err is None:
            report.delivered += 1
        else:
            report.failed += 1
            report.errors[err.str()] += 1

    bucket = TokenBucket(rate) if rate > 0 else None
    header_list: list[tuple[str, str | bytes | None]] | None = list(headers) if headers else None
    started = time.monotonic()
    next_progress = started
    try:
        for index, item in enumerate(records, 1):
            try:
                key, value = prepare_record(item, raw, index)
            except InvalidRecord as invalid:
                report.invalid += 1
                if on_invalid is not None:
                    on_invalid(invalid)
                continue
            if bucket is not None:
                _wait(producer, bucket.take())
            produce_waiting(producer, (topic, key, value, header_list), delivered)
            report.sent += 1
            if report.sent % _POLL_EVERY == 0:
                producer.poll(0)
            now = time.monotonic()
            if on_progress is not None and now >= next_progress:
                report.elapsed_s = now - started
                on_progress(report)
                next_progress = now + _PROGRESS_EVERY_S
    except BaseException:  # interrupted (Ctrl-C) or the input failed: wait briefly, then go
        _flush(producer, report, min(flush_timeout, _INTERRUPTED_FLUSH_S), on_progress, started)
        raise
    _flush(producer, report, flush_timeout, on_progress, started)
    return report


def produce_generated(
    settings: Settings,
    count: int,
    seed: int = 0,
    *,
    start: int = 0,
    truth_path: str | Path | None = None,
    **kwargs: Any,
) -> ProduceReport:
    """Send ``count`` synthetic products (with the synthetic header), like ``--generate``.

    Args:
        settings: the configuration.
        count: how many products; ids are ``gen-<seed>-<n>`` for ``n`` from ``start``.
        seed: the generator seed.
        start: the first product number.
        truth_path: where to write the ``product_id,category,hs_section`` CSV, if wanted.
        kwargs: passed to :func:`produce_products` (``topic``, ``rate``, ``on_progress``...).
    """
    with contextlib.ExitStack() as stack:
        truth = stack.enter_context(TruthWriter(truth_path)) if truth_path else None

        def messages() -> Iterator[dict[str, Any]]:
            for product in generate_products(count, seed, start=start):
                if truth is not None:
                    truth.write(product)
                yield product.message

        return produce_products(settings, messages(), headers=[SYNTHETIC_HEADER], **kwargs)


def _wait(producer: Producer, seconds: float) -> None:
    """Wait while serving delivery callbacks (``poll`` may return early, so loop)."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        producer.poll(remaining)


def _flush(
    producer: Producer,
    report: ProduceReport,
    timeout: float,
    on_progress: Callable[[ProduceReport], None] | None,
    started: float,
) -> None:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if producer.flush(min(remaining, _PROGRESS_EVERY_S)) == 0:
            break
        if on_progress is not None:
            report.elapsed_s = time.monotonic() - started
            on_progress(report)
    left = len(producer)
    if left:
        report.failed += left
        report.errors[f"not delivered within the {timeout:g} s flush timeout"] += left
    report.elapsed_s = time.monotonic() - started
    if on_progress is not None:
        on_progress(report)
