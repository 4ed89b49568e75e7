"""Admin operations over confluent-kafka: reachability and the topics' lifecycle.

Reading metadata (partitions, leaders, ISR, offsets, lag, configs) is in
:mod:`transport.metadata`.

Every wait is bounded by a timeout; an unreachable cluster is one
:class:`~transport.errors.KafkaUnreachable`, a missing or failed topic one
:class:`~transport.errors.TopicError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    KafkaError,
    KafkaException,
)
from confluent_kafka.admin import (
    AdminClient,
    ClusterMetadata,
    NewTopic,
)

from core.settings import Settings
from transport.access import ACCESS
from transport.clients import new_admin
from transport.errors import KafkaAccessDenied, KafkaUnreachable, TopicError

log = logging.getLogger(__name__)



def admin_client(conf: Mapping[str, Any]) -> AdminClient:
    """An AdminClient for ``conf``, e.g. :func:`transport.configuration.admin_config`."""
    return new_admin(conf)


def wait_reachable(admin: AdminClient, timeout: float, where: str = "") -> ClusterMetadata:
    """Cluster metadata once a broker answers; :class:`KafkaUnreachable` after ``timeout``,
    or :class:`KafkaAccessDenied` as soon as the brokers refuse the login."""
    started = time.monotonic()
    deadline = started + timeout
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            metadata = admin.list_topics(timeout=min(remaining, 2.0))
        except KafkaException as exc:
            last = exc
            raise_if_refused(admin, started, where)
            continue
        if metadata.brokers:
            return metadata
    raise_if_refused(admin, started, where)
    where = f" at {where}" if where else ""
    reason = f" ({last.args[0].str()})" if last is not None and last.args else ""
    raise KafkaUnreachable(f"Kafka{where} is not reachable within {timeout:g} s{reason}")


def raise_if_refused(client: Any, since: float, where: str = "") -> None:
    """Raise :class:`KafkaAccessDenied` when the brokers refused this process's login (or
    TLS handshake) since ``since``: a failed call then says why, not just "unreachable".
    ``client.poll(0)`` first serves the error events librdkafka queued for it."""
    client.poll(0)
    denial = ACCESS.login_denial(since)
    if denial is not None:
        where = f" at {where}" if where else ""
        raise KafkaAccessDenied(f"Kafka{where}: {denial.message}")


def wait_for_broker(
    bootstrap_servers: str,
    timeout: float,
    alive: Callable[[], bool] | None = None,
    broker_id: int | None = None,
    client_config: Mapping[str, Any] | None = None,
) -> float:
    """Poll a (starting) broker until it answers metadata requests.

    Args:
        bootstrap_servers: ``host:port`` of the broker.
        timeout: the deadline in seconds.
        alive: returns False when the broker process died (stops waiting early).
        broker_id: also wait until the answer lists this broker (node) id, i.e. until the
            broker is registered and unfenced: a restarted node of a cluster answers
            before that.
        client_config: the connection settings (a secured broker's credentials and CA);
            default: plaintext to ``bootstrap_servers``.

    Returns:
        Seconds waited.

    Raises:
        TimeoutError: not ready within ``timeout``.
        ChildProcessError: ``alive()`` returned False.
    """
    started = time.monotonic()
    deadline = started + timeout
    conf: dict[str, Any] = {
        **(client_config or {}),
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
            brokers = admin.list_topics(
                timeout=min(0.5, max(deadline - time.monotonic(), 0.05))
            ).brokers
        except KafkaException:
            continue
        if brokers and (broker_id is None or broker_id in brokers):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"Kafka at {bootstrap_servers} did not answer within {timeout:g} s")


def wait_brokers(
    admin_conf: Mapping[str, Any],
    broker_ids: Collection[int],
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> ClusterMetadata:
    """Poll the cluster until every broker of ``broker_ids`` is in its metadata.

    A broker is listed once it is registered with the controller and unfenced.

    Args:
        admin_conf: the client config (``bootstrap.servers`` may name several brokers).
        broker_ids: the broker (node) ids to wait for.
        timeout: the deadline in seconds.
        alive: returns False when a broker process died (stops waiting early).

    Returns:
        The first metadata that lists them all.

    Raises:
        TimeoutError: not all listed within ``timeout`` (the message names the missing).
        ChildProcessError: ``alive()`` returned False.
    """
    deadline = time.monotonic() + timeout
    admin = admin_client(
        {"reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 250, **admin_conf}
    )
    wanted = set(broker_ids)
    seen: set[int] = set()
    while True:
        if alive is not None and not alive():
            raise ChildProcessError("a broker process exited while waiting for the cluster")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            missing = ", ".join(str(b) for b in sorted(wanted - seen))
            raise TimeoutError(f"brokers {missing} not in the metadata within {timeout:g} s")
        try:
            metadata = admin.list_topics(timeout=min(remaining, 1.0))
        except KafkaException:
            continue
        seen = set(metadata.brokers)
        if wanted <= seen:
            return metadata
        time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))


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
