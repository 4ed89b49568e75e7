"""Small admin helpers over confluent-kafka: reachability, topic creation, consumer lag.

confluent-kafka is imported inside the functions so that importing this module (and
``catmatch --help``) stays cheap. Every wait is bounded by a timeout; an unreachable
cluster is reported as one :class:`~catmatch.errors.UserError` line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catmatch.errors import UserError

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient, ClusterMetadata

log = logging.getLogger(__name__)


class _DebugLogger:
    """Receives librdkafka's log lines (``Connect ... failed`` while a broker starts) at DEBUG."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.debug(msg, *args)


_LIBRDKAFKA_LOG = _DebugLogger(logging.getLogger("catmatch.librdkafka"))


def _ignore_error(err: Any) -> None:
    log.debug("librdkafka: %s", err)


def quiet(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` plus settings that keep librdkafka's connection errors off stderr.

    Admin calls report failures through their results; the raw ``Connect ... failed`` lines
    would only bury the one-line error the CLI prints.
    """
    out = dict(conf)
    out.setdefault("logger", _LIBRDKAFKA_LOG)
    out.setdefault("error_cb", _ignore_error)
    out.setdefault("reconnect.backoff.max.ms", 1000)
    return out


def admin_client(conf: Mapping[str, Any]) -> AdminClient:
    """An AdminClient for ``conf``, e.g. ``settings.kafka.client_config()``."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(quiet(conf))


def wait_reachable(admin: AdminClient, timeout: float, where: str = "") -> ClusterMetadata:
    """Cluster metadata once a broker answers; :class:`UserError` after ``timeout`` seconds."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            metadata = admin.list_topics(timeout=min(remaining, 2.0))
        except KafkaException as exc:
            last = exc
            continue
        if metadata.brokers:
            return metadata
    where = f" at {where}" if where else ""
    reason = f" ({last.args[0].str()})" if last is not None and last.args else ""
    raise UserError(f"Kafka{where} is not reachable within {timeout:g} s{reason}")


def wait_for_broker(
    bootstrap_servers: str, timeout: float, alive: Callable[[], bool] | None = None
) -> float:
    """Poll a (starting) broker until it answers metadata requests.

    Args:
        bootstrap_servers: ``host:port`` of the broker.
        timeout: the deadline in seconds.
        alive: returns False when the broker process died (stops waiting early).

    Returns:
        Seconds waited.

    Raises:
        TimeoutError: not ready within ``timeout``.
        ChildProcessError: ``alive()`` returned False.
    """
    from confluent_kafka import KafkaException

    started = time.monotonic()
    deadline = started + timeout
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 250,
    }
    admin = admin_client(conf)
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ChildProcessError(
                f"the broker process exited before {bootstrap_servers} answered"
            )
        try:
            if admin.list_topics(timeout=min(0.5, max(deadline - time.monotonic(), 0.05))).brokers:
                return time.monotonic() - started
        except KafkaException:
            continue
    raise TimeoutError(f"Kafka at {bootstrap_servers} did not answer within {timeout:g} s")


def wait_topics_ready(admin: AdminClient, partitions: Mapping[str, int], timeout: float) -> None:
    """Wait until every topic shows its partitions, each with a leader, in the metadata."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    pending = dict(partitions)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UserError(f"topics not ready within {timeout:g} s: {', '.join(sorted(pending))}")
        try:
            metadata = admin.list_topics(timeout=min(remaining, 2.0))
        except KafkaException as exc:
            log.debug("metadata request failed (retrying): %s", exc)
            continue
        for name, count in list(pending.items()):
            topic = metadata.topics.get(name)
            if topic is None or topic.error is not None or len(topic.partitions) < count:
                continue
            if all(p.leader >= 0 and p.error is None for p in topic.partitions.values()):
                del pending[name]


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partitions, replication factor and topic configs."""

    name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


def ensure_topics(
    admin_conf: Mapping[str, Any], specs: Iterable[TopicSpec], *, timeout: float = 10.0
) -> dict[str, str]:
    """Create the missing topics; leave existing ones alone (idempotent).

    Returns:
        Per topic, in ``specs`` order: ``"created"`` or ``"exists (N partitions)"``; an
        existing topic with fewer partitions than wanted gets ``"exists (N partitions; M
        wanted, not changed)"`` and a logged warning (adding partitions remaps keys).

    Raises:
        UserError: the cluster is unreachable within ``timeout`` or a creation failed.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    specs = list(specs)
    admin = admin_client(admin_conf)
    metadata = wait_reachable(admin, timeout, str(admin_conf.get("bootstrap.servers", "")))
    existing = {
        name: len(topic.partitions)
        for name, topic in metadata.topics.items()
        if topic.error is None
    }
    missing = [spec for spec in specs if spec.name not in existing]
    created: set[str] = set()
    if missing:
        new_topics = [
            NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config))
            for s in missing
        ]
        futures = admin.create_topics(new_topics, request_timeout=timeout)
        for spec in missing:
            try:
                futures[spec.name].result(timeout=timeout)
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise UserError(f"cannot create topic {spec.name}: {err.str()}") from exc
                continue  # created concurrently: reported as existing below
            created.add(spec.name)
        wait_topics_ready(admin, {s.name: s.partitions for s in missing}, timeout)
        metadata = admin.list_topics(timeout=timeout)
    result: dict[str, str] = {}
    for spec in specs:
        if spec.name in created:
            result[spec.name] = "created"
            continue
        count = len(metadata.topics[spec.name].partitions)
        status = f"exists ({count} partitions)"
        if count < spec.partitions:
            log.warning(
                "topic %s has %d partitions, fewer than the %d wanted; not changed "
                "(adding partitions remaps keys: do it on purpose with kafka-topics --alter)",
                spec.name,
                count,
                spec.partitions,
            )
            status = f"exists ({count} partitions; {spec.partitions} wanted, not changed)"
        result[spec.name] = status
    return result


def delete_topics(
    admin_conf: Mapping[str, Any], names: Iterable[str], *, timeout: float = 10.0
) -> dict[str, str]:
    """Delete topics; returns ``"deleted"`` or ``"not found"`` per topic."""
    from confluent_kafka import KafkaError, KafkaException

    names = list(names)
    admin = admin_client(admin_conf)
    wait_reachable(admin, timeout, str(admin_conf.get("bootstrap.servers", "")))
    futures = admin.delete_topics(names, request_timeout=timeout, operation_timeout=timeout)
    result = {}
    for name in names:
        try:
            futures[name].result(timeout=timeout)
            result[name] = "deleted"
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise UserError(f"cannot delete topic {name}: {err.str()}") from exc
            result[name] = "not found"
    return result


@dataclass(frozen=True)
class PartitionLag:
    """Where a consumer group stands on one partition.

    ``committed`` is None when the group has no committed offset there; ``lag`` then counts
    every message still in the log (``end - start``), as a new group reading from the
    beginning would see it.
    """

    topic: str
    partition: int
    start: int
    end: int
    committed: int | None
    lag: int


def group_lag(
    admin_conf: Mapping[str, Any],
    group_id: str,
    topics: Iterable[str],
    *,
    timeout: float = 10.0,
) -> list[PartitionLag]:
    """Committed offsets and lag of ``group_id`` on every partition of ``topics``."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    admin = admin_client(admin_conf)
    metadata = wait_reachable(admin, timeout, str(admin_conf.get("bootstrap.servers", "")))
    partitions: list[TopicPartition] = []
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            raise UserError(f"topic {name} does not exist")
        partitions += [TopicPartition(name, p) for p in sorted(topic.partitions)]
    if not partitions:
        return []
    request = [ConsumerGroupTopicPartitions(group_id, partitions)]
    committed_future = admin.list_consumer_group_offsets(request, request_timeout=timeout)
    committed = {
        (tp.topic, tp.partition): tp.offset
        for tp in committed_future[group_id].result(timeout=timeout).topic_partitions
    }
    ends = _offsets(admin, partitions, OffsetSpec.latest(), timeout)
    starts = _offsets(admin, partitions, OffsetSpec.earliest(), timeout)
    lags = []
    for tp in partitions:
        key = (tp.topic, tp.partition)
        done = committed.get(key, -1)
        offset = done if done >= 0 else None
        lag = ends[key] - (offset if offset is not None else starts[key])
        lags.append(PartitionLag(tp.topic, tp.partition, starts[key], ends[key], offset, lag))
    return lags


def _offsets(
    admin: AdminClient, partitions: list[Any], spec: Any, timeout: float
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {
        (tp.topic, tp.partition): future.result(timeout=timeout).offset
        for tp, future in futures.items()
    }
