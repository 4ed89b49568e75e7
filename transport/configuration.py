"""librdkafka settings for every client role, assembled from the one settings tree.

The connection part (bootstrap servers, security, SASL, ``kafka.config``) is
:meth:`core.settings.KafkaSettings.client_config`; this module adds what each role needs.
Settings a guarantee depends on are applied last, so no pass-through setting can undo them:
every producer is idempotent with ``acks=all`` (a result or dead letter counts as produced
only once all in-sync replicas have it), and the worker's consumer never commits or stores
offsets by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.settings import KafkaSettings, Settings

PRODUCER_DEFAULTS: dict[str, Any] = {"linger.ms": 5, "compression.type": "lz4"}
PRODUCER_REQUIRED: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "partition.assignment.strategy": "cooperative-sticky",
    "session.timeout.ms": 10000,
    "heartbeat.interval.ms": 2000,
}
# Offsets move only when the worker commits them, after its outputs are acknowledged.
CONSUMER_REQUIRED: dict[str, Any] = {"enable.auto.commit": False, "enable.auto.offset.store": False}


def producer_config(
    kafka: KafkaSettings,
    overrides: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Producer settings: defaults < connection < ``overrides`` < idempotence and acks=all."""
    return {
        **PRODUCER_DEFAULTS,
        **(defaults or {}),
        **kafka.client_config(),
        **(overrides or {}),
        **PRODUCER_REQUIRED,
    }


def worker_producer_config(settings: Settings) -> dict[str, Any]:
    """The worker's producer of results and dead letters (``worker.producer_config`` applies)."""
    return producer_config(settings.kafka, settings.worker.producer_config)


def transactional_config(settings: Settings, transactional_id: str) -> dict[str, Any]:
    """The worker's transactional producer (``processing_guarantee: exactly_once``)."""
    return {**worker_producer_config(settings), "transactional.id": transactional_id}


def consumer_config(settings: Settings, instance_id: str | None = None) -> dict[str, Any]:
    """A worker's group consumer: manual offset control, cooperative rebalancing and, with
    ``instance_id``, static membership (a restarted worker takes its partitions back without
    a rebalance). ``worker.consumer_config`` overrides anything but the offset control."""
    conf: dict[str, Any] = {
        **CONSUMER_DEFAULTS,
        **settings.kafka.client_config(),
        "group.id": settings.worker.group_id,
    }
    if instance_id:
        conf["group.instance.id"] = instance_id
    conf.update(settings.worker.consumer_config)
    conf.update(CONSUMER_REQUIRED)
    return conf


def reader_config(kafka: KafkaSettings, group_id: str, *, from_beginning: bool) -> dict[str, Any]:
    """A reader that assigns partitions itself and never commits (``catmatch tail``)."""
    return {
        **kafka.client_config(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    }
