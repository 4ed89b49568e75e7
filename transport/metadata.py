"""What the cluster says about topics: partitions, leaders, ISR, offsets, lag, configs.

Every wait is bounded by a timeout; an unreachable cluster is one
:class:`~transport.errors.KafkaUnreachable`, a missing topic one
:class:`~transport.errors.TopicError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    ConfigResource,
    OffsetSpec,
    PartitionMetadata,
    ResourceType,
    TopicMetadata,
)

from transport.access import classify
from transport.admin import admin_client, raise_if_refused, wait_reachable
from transport.clients import new_consumer
from transport.errors import KafkaAccessDenied, KafkaUnreachable, TopicError

log = logging.getLogger(__name__)



def partitions_of(admin: AdminClient, topic: str, timeout: float) -> dict[int, PartitionMetadata]:
    """``{partition: metadata}`` (leader, replicas, ISR) of ``topic``, as a broker sees it.

    Raises:
        KafkaUnreachable: no broker answered within ``timeout``.
        TopicError: the topic does not exist or reports an error.
    """
    described = describe_topic(admin, topic, timeout)
    return dict(described.partitions)


def partition_leader(
    admin_conf: Mapping[str, Any], topic: str, partition: int, timeout: float = 30.0
) -> int:
    """The broker (node) id that leads ``topic``/``partition``.

    Waits while the partition has no leader (-1, an election in progress) or the broker
    asked does not know it yet (a topic just created). A leader that was just killed stays
    the leader until the controller fences it.

    Raises:
        TopicError: no leader of that partition within ``timeout`` (the topic or the
            partition missing, or an election that does not end).
        KafkaUnreachable: no broker answered within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    admin = admin_client(admin_conf)
    while True:
        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            partitions = partitions_of(admin, topic, min(remaining, 2.0))
        except (TopicError, KafkaUnreachable) as exc:
            problem: Exception = exc
        else:
            leader = partitions[partition].leader if partition in partitions else -1
            if leader >= 0:
                return int(leader)
            problem = TopicError(
                f"{topic}/{partition} has no leader after {timeout:g} s"
                if partition in partitions
                else f"topic {topic} has no partition {partition}"
            )
        if time.monotonic() >= deadline:
            raise problem
        time.sleep(0.2)


def wait_isr(
    admin_conf: Mapping[str, Any],
    topic: str,
    partitions: Iterable[int] | None,
    size: int,
    timeout: float,
) -> dict[int, list[int]]:
    """Wait until the ISR of every partition of ``topic`` has exactly ``size`` replicas.

    Args:
        partitions: the partitions to watch; None: all of the topic's.
        size: e.g. the replication factor (all replicas back in sync), or one less after
            a broker died (the shrink has happened).

    Returns:
        ``{partition: sorted ISR}`` when it holds.

    Raises:
        TopicError: it does not hold within ``timeout``; the message shows the last ISRs,
            or says that the topic or a partition is missing (a broker that has not heard
            of a new topic yet is waited out like a short ISR).
        KafkaUnreachable: no broker answered within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    admin = admin_client(admin_conf)
    wanted = None if partitions is None else sorted(set(partitions))
    last: dict[int, list[int]] = {}
    problem: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if problem is not None:
                raise problem
            shown = ", ".join(f"{p}: {isr}" for p, isr in sorted(last.items()))
            raise TopicError(
                f"ISR of {topic} not {size} replicas within {timeout:g} s (last: {shown})"
            )
        try:
            described = partitions_of(admin, topic, min(remaining, 2.0))
        except (TopicError, KafkaUnreachable) as exc:
            problem = exc
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
            continue
        chosen = sorted(described) if wanted is None else wanted
        missing = [p for p in chosen if p not in described]
        problem = TopicError(f"topic {topic} has no partition {missing[0]}") if missing else None
        last = {p: sorted(described[p].isrs) for p in chosen if p in described}
        if not missing and all(len(isr) == size for isr in last.values()):
            return last
        time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))


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
    committed = committed_offsets(admin_conf, group_id, partitions, timeout)
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


def committed_offsets(
    conf: Mapping[str, Any], group_id: str, partitions: list[TopicPartition], timeout: float
) -> dict[tuple[str, int], int]:
    """The committed offsets of ``group_id`` (-1 where none), asked by a consumer that names
    the group but never joins it.

    Not the admin API's ``list_consumer_group_offsets``: librdkafka (2.4 to 2.16 at least)
    crashes the process when that request meets a coordinator that is not there yet or
    still loading, e.g. for a group no member has joined (librdkafka issue 5040,
    confluent-kafka-python issue 1982); the consumer's OffsetFetch waits it out.

    A coordinator that moves or is still loading (``NOT_COORDINATOR``,
    ``COORDINATOR_LOAD_IN_PROGRESS``, ``COORDINATOR_NOT_AVAILABLE``: a busy or restarted
    broker) is asked again until ``timeout`` is spent.

    Raises:
        KafkaUnreachable: no answer within ``timeout``.
        KafkaAccessDenied: this user may not see the group's offsets.
    """
    group_conf = {**conf, "group.id": group_id, "enable.auto.commit": False}
    consumer = new_consumer(group_conf, quiet=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                answered = consumer.committed(
                    partitions, timeout=max(deadline - time.monotonic(), 0.1))
                break
            except KafkaException as exc:
                error = exc.args[0]
                denial = classify(error, group_conf, operation="describe")
                if denial is not None:
                    raise KafkaAccessDenied(denial.message) from None
                if error.code() in _COORDINATOR_MOVING and time.monotonic() < deadline:
                    time.sleep(COORDINATOR_RETRY_S)
                    continue
                raise KafkaUnreachable(
                    f"the committed offsets of group {group_id} were not answered within "
                    f"{timeout:g} s: {error.str()}"
                ) from None
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in answered}


# Group-coordinator answers that mean "ask again shortly", not "unreachable".
_COORDINATOR_MOVING = frozenset({
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
})
COORDINATOR_RETRY_S = 0.2


def _offsets(
    admin: AdminClient, partitions: list[TopicPartition], spec: OffsetSpec, timeout: float
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {
        (tp.topic, tp.partition): future.result(timeout=timeout).offset
        for tp, future in futures.items()
    }


def describe_topic(
    client: Any, topic: str, timeout: float, bootstrap: str = "",
    conf: Mapping[str, Any] | None = None,
) -> TopicMetadata:
    """``topic``'s metadata through any client that has ``list_topics`` (a producer, a
    consumer, an admin client).

    Args:
        conf: the client's configuration, to name its user when the cluster refuses it.

    Raises:
        KafkaUnreachable: no broker answered within ``timeout``.
        KafkaAccessDenied: the brokers refused the login, or this user may not see the topic.
        TopicError: the topic does not exist or reports an error.
    """
    started = time.monotonic()
    try:
        metadata = client.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise_if_refused(client, started, bootstrap)
        where = f" at {bootstrap}" if bootstrap else ""
        raise KafkaUnreachable(f"Kafka{where} is not reachable: {exc.args[0].str()}") from None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        code = described.error.code() if described is not None and described.error else None
        if code in (None, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            raise TopicError(f"topic {topic} does not exist (create it: catmatch topics create)")
        assert described is not None and described.error is not None
        denial = classify(described.error, conf or {}, topic=topic, operation="describe")
        if denial is not None:
            raise KafkaAccessDenied(denial.message)
        raise TopicError(f"topic {topic}: {described.error.str()}")
    result: TopicMetadata = described
    return result


def read_committed_bounds(
    admin_conf: Mapping[str, Any],
    topic: str,
    partitions: Iterable[int],
    *,
    timeout: float = 10.0,
) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic``: ``(earliest offset, end)``, where the end is what a
    ``read_committed`` reader reaches now (the last stable offset, below any open
    transaction). A reader that stops there terminates even while producers keep writing.

    Raises:
        KafkaUnreachable: the offsets were not answered within ``timeout``.
        TopicError: the broker refused the request (e.g. the topic is gone).
    """
    admin = admin_client(admin_conf)  # keep a reference until the futures are done
    wanted = [TopicPartition(topic, p) for p in sorted(set(partitions))]
    if not wanted:
        return {}
    specs = (
        (OffsetSpec.earliest(), IsolationLevel.READ_UNCOMMITTED),
        (OffsetSpec.latest(), IsolationLevel.READ_COMMITTED),
    )
    found: list[dict[int, int]] = []
    try:
        for spec, isolation in specs:
            futures = admin.list_offsets(
                {tp: spec for tp in wanted}, isolation_level=isolation, request_timeout=timeout
            )
            found.append(
                {tp.partition: int(f.result(timeout=timeout).offset) for tp, f in futures.items()}
            )
    except KafkaException as exc:
        raise TopicError(f"cannot read the offsets of {topic}: {exc.args[0].str()}") from None
    except TimeoutError:
        where = admin_conf.get("bootstrap.servers", "")
        raise KafkaUnreachable(
            f"Kafka at {where} did not answer an offsets request within {timeout:g} s"
        ) from None
    starts, ends = found
    return {p: (starts[p], ends[p]) for p in starts}


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


def topic_max_message_bytes(
    conf: Mapping[str, Any], topics: Iterable[str], timeout: float = 10.0
) -> dict[str, int]:
    """``max.message.bytes`` of each topic whose config can be read (others are left out:
    no permission to describe configs, an unreachable cluster)."""
    admin = admin_client(conf)
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
    out: dict[str, int] = {}
    try:
        futures = admin.describe_configs(resources, request_timeout=timeout)
    except KafkaException as exc:
        log.warning("cannot read topic configs: %s", exc)
        return out
    for resource, future in futures.items():
        try:
            entries = future.result(timeout=timeout)
            out[resource.name] = int(entries["max.message.bytes"].value)
        except (KafkaException, KeyError, ValueError, TypeError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {timeout:g} s"
            log.warning("max.message.bytes of %s unknown: %s", resource.name, why)
    return out
