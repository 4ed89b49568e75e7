"""Admin operations over confluent-kafka: reachability, topics, partitions, consumer lag.

Every wait is bounded by a timeout; an unreachable cluster is one
:class:`~transport.errors.KafkaUnreachable`, a missing or failed topic one
:class:`~transport.errors.TopicError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic, OffsetSpec, TopicMetadata

from core.settings import Settings
from transport.clients import new_admin
from transport.errors import KafkaUnreachable, TopicError

log = logging.getLogger(__name__)


def admin_client(conf: Mapping[str, Any]) -> AdminClient:
    """An AdminClient for ``conf``, e.g. ``settings.kafka.client_config()``."""
    return new_admin(conf)


def wait_reachable(admin: AdminClient, timeout: float, where: str = "") -> ClusterMetadata:
    """Cluster metadata once a broker answers; :class:`KafkaUnreachable` after ``timeout``."""
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
    raise KafkaUnreachable(f"Kafka{where} is not reachable within {timeout:g} s{reason}")


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
    started = time.monotonic()
    deadline = started + timeout
    conf: dict[str, Any] = {
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
    deadline = time.monotonic() + timeout
    pending = dict(partitions)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TopicError(f"topics not ready within {timeout:g} s: {', '.join(sorted(pending))}")
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
        KafkaUnreachable: the cluster is unreachable within ``timeout``.
        TopicError: a creation failed.
    """
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
                    raise TopicError(f"cannot create topic {spec.name}: {err.str()}") from exc
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
                raise TopicError(f"cannot delete topic {name}: {err.str()}") from exc
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
    admin = admin_client(admin_conf)
    metadata = wait_reachable(admin, timeout, str(admin_conf.get("bootstrap.servers", "")))
    partitions: list[TopicPartition] = []
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            raise TopicError(f"topic {name} does not exist")
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
    admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec, timeout: float
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {
        (tp.topic, tp.partition): future.result(timeout=timeout).offset
        for tp, future in futures.items()
    }


def describe_topic(
    client: Any, topic: str, timeout: float, bootstrap: str = ""
) -> TopicMetadata:
    """``topic``'s metadata through any client that has ``list_topics`` (a producer, a
    consumer, an admin client).

    Raises:
        KafkaUnreachable: no broker answered within ``timeout``.
        TopicError: the topic does not exist or reports an error.
    """
    try:
        metadata = client.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        where = f" at {bootstrap}" if bootstrap else ""
        raise KafkaUnreachable(f"Kafka{where} is not reachable: {exc.args[0].str()}") from None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        code = described.error.code() if described is not None and described.error else None
        if code in (None, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            raise TopicError(f"topic {topic} does not exist (create it: catmatch topics create)")
        raise TopicError(f"topic {topic}: {described.error.str() if described else 'unknown'}")
    result: TopicMetadata = described
    return result


def partition_count(conf: Mapping[str, Any], topic: str, timeout: float = 5.0) -> int | None:
    """Partitions of ``topic``, or ``None`` when they cannot be read (unreachable, missing)."""
    try:
        metadata = admin_client(conf).list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        log.warning("cannot read partitions of %s: %s", topic, exc)
        return None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        return None
    return len(described.partitions)


def pipeline_topics(settings: Settings) -> list[str]:
    """The input, output and dead-letter topic names."""
    return [settings.topics.input, settings.topics.output, settings.topics.dead_letter]


def pipeline_topic_specs(settings: Settings, partitions: int | None = None) -> list[TopicSpec]:
    """Specs of the pipeline topics from the settings (``partitions`` overrides the count)."""
    count = partitions or settings.topic_partitions()
    return [
        TopicSpec(
            name,
            partitions=count,
            replication_factor=settings.topics.replication_factor,
            config=dict(settings.topics.config),
        )
        for name in pipeline_topics(settings)
    ]
