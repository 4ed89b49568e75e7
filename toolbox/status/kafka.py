"""What the cluster says for ``catmatch status``: topics, the worker group, offsets.

Kafka access goes through :mod:`transport` (the admin client, reachability, lag and offset
bounds). Only ``describe_consumer_groups`` is called here directly, on transport's admin
client: transport has no wrapper for it yet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata

from toolbox.errors import ToolboxError
from transport.admin import admin_client, wait_reachable
from transport.metadata import PartitionLag, group_lag, read_committed_bounds
from transport.types import TP

# Group-coordinator answers worth asking again (a broker that just started, a moving
# coordinator), within the caller's timeout.
_RETRY_CODES = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
}


def _retriable(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and (err.code() in _RETRY_CODES or err.retriable())


def _why(exc: BaseException) -> str:
    err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
    return err.str() if isinstance(err, KafkaError) else str(exc) or type(exc).__name__


@dataclass(frozen=True)
class PartitionInfo:
    """One partition as the cluster describes it."""

    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass(frozen=True)
class Member:
    """One member of the worker group and the partitions assigned to it."""

    member_id: str
    client_id: str
    instance_id: str | None
    host: str
    partitions: list[TP]

    @property
    def name(self) -> str:
        """How the screen names it: the static instance id, else the client id."""
        return self.instance_id or self.client_id


@dataclass(frozen=True)
class GroupInfo:
    """``describe_consumer_groups`` of the worker group (``error`` when it failed)."""

    group_id: str
    state: str = "UNKNOWN"
    assignor: str = ""
    coordinator: int | None = None
    members: list[Member] = field(default_factory=list)
    error: str | None = None

    def owner(self, topic: str, partition: int) -> Member | None:
        for member in self.members:
            if (topic, partition) in member.partitions:
                return member
        return None


@dataclass(frozen=True)
class OffsetSample:
    """Offsets at one moment: what rates are computed from.

    ``ends``: per topic and partition, the end a ``read_committed`` reader reaches (input:
    the high watermark). ``starts``: the earliest offsets. ``committed``: the worker group's
    committed position per input partition (None: nothing committed yet). ``lags``: the
    group's lag per input partition as :func:`transport.metadata.group_lag` counts it (with
    nothing committed, every message still in the log).
    """

    at: float  # time.monotonic()
    ends: dict[str, dict[int, int]]
    starts: dict[str, dict[int, int]]
    committed: dict[int, int | None]
    lags: dict[int, int] = field(default_factory=dict)


def cluster_metadata(
    conf: Mapping[str, Any], timeout: float
) -> tuple[AdminClient, ClusterMetadata]:
    """The admin client and the cluster's metadata; ``KafkaUnreachable`` after ``timeout``."""
    admin = admin_client(conf)
    return admin, wait_reachable(admin, timeout, str(conf.get("bootstrap.servers", "")))


def partitions(metadata: ClusterMetadata, topic: str) -> list[PartitionInfo] | None:
    """The partitions of ``topic`` (None when it does not exist)."""
    described = metadata.topics.get(topic)
    if described is None or described.error is not None:
        return None
    return [
        PartitionInfo(p, int(m.leader), list(m.replicas), list(m.isrs))
        for p, m in sorted(described.partitions.items())
    ]


def describe_group(admin: AdminClient, group: str, timeout: float) -> GroupInfo:
    """Members, their assignments and the group state; an unknown group is ``DEAD``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            futures = admin.describe_consumer_groups([group], request_timeout=timeout)
            desc = futures[group].result(timeout=timeout)
            break
        except KafkaException as exc:
            if not _retriable(exc) or time.monotonic() > deadline:
                return GroupInfo(group, error=f"cannot describe group {group}: {_why(exc)}")
            time.sleep(0.2)
        except TimeoutError as exc:
            return GroupInfo(group, error=f"cannot describe group {group}: {_why(exc)}")
    members = [
        Member(
            member_id=m.member_id,
            client_id=m.client_id,
            host=m.host,
            instance_id=m.group_instance_id,
            partitions=sorted(
                (tp.topic, tp.partition) for tp in (m.assignment.topic_partitions or [])
            ),
        )
        for m in desc.members
    ]
    state = getattr(desc.state, "name", str(desc.state))
    coordinator = desc.coordinator.id if desc.coordinator is not None else None
    return GroupInfo(
        group_id=group,
        state=state,
        assignor=desc.partition_assignor or "",
        coordinator=coordinator,
        members=sorted(members, key=lambda m: (m.partitions, m.name)),
    )


def sample_offsets(
    conf: Mapping[str, Any],
    group: str,
    input_topic: str | None,
    other_topics: Mapping[str, list[int]],
    timeout: float,
) -> OffsetSample:
    """Read the offsets once: the input's (with the group's lag) and the other topics'.

    Args:
        input_topic: the input topic, or None when it does not exist (no lag then).
        other_topics: ``{topic: partitions}`` of the output and dead-letter topics.

    Raises:
        KafkaUnreachable, TopicError: see :func:`transport.metadata.group_lag`.
        StatusError: the group's offsets could not be read within ``timeout``.
    """
    ends: dict[str, dict[int, int]] = {}
    starts: dict[str, dict[int, int]] = {}
    committed: dict[int, int | None] = {}
    lags: dict[int, int] = {}
    at = time.monotonic()
    if input_topic is not None:
        for lag in _group_lag(conf, group, input_topic, timeout):
            ends.setdefault(lag.topic, {})[lag.partition] = lag.end
            starts.setdefault(lag.topic, {})[lag.partition] = lag.start
            committed[lag.partition] = lag.committed
            lags[lag.partition] = lag.lag
    for topic, parts in other_topics.items():
        bounds = read_committed_bounds(conf, topic, parts, timeout=timeout)
        ends[topic] = {p: end for p, (_, end) in bounds.items()}
        starts[topic] = {p: start for p, (start, _) in bounds.items()}
    return OffsetSample(at=at, ends=ends, starts=starts, committed=committed, lags=lags)


def _group_lag(
    conf: Mapping[str, Any], group: str, topic: str, timeout: float
) -> list[PartitionLag]:
    """:func:`transport.metadata.group_lag`, its Kafka errors as one :class:`StatusError`.

    Not retried here: when the group coordinator is still loading, the admin client that
    ``group_lag`` drops with the error can crash librdkafka (``rd_kafka_cgrp_op``, seen with
    confluent-kafka 2.16.1 on a broker that just started). :func:`describe_group`, called
    first on a long-lived client, waits for the coordinator instead.
    """
    try:
        return group_lag(conf, group, [topic], timeout=timeout)
    except KafkaException as exc:
        raise StatusError(
            f"cannot read the offsets of group {group} on {topic}: {_why(exc)}"
        ) from None


class StatusError(ToolboxError):
    """``catmatch status`` could not read what it needs (one line)."""
