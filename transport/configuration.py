"""librdkafka settings for every client role, assembled from the one settings tree.

The connection part (bootstrap servers, security, SASL, TLS, ``kafka.config``) is
:func:`connection_config`, which checks that the security settings fit together first (a
SASL protocol without a password fails here, naming the setting, not later as a refused
login); this module adds what each role needs. Admin clients take :func:`admin_config`.
Settings a guarantee depends on are applied last, so no pass-through setting can undo them:
every producer is idempotent with ``acks=all`` (a result or dead letter counts as produced
only once all in-sync replicas have it), and the worker's consumer never commits or stores
offsets by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.settings import KafkaSettings, Settings
from transport.errors import SecuritySettingsError

PRODUCER_DEFAULTS: dict[str, Any] = {"linger.ms": 5, "compression.type": "lz4"}
PRODUCER_REQUIRED: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

# SASL mechanisms that log in with kafka.sasl_username and kafka.sasl_password.
PASSWORD_MECHANISMS = frozenset({"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"})

CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "partition.assignment.strategy": "cooperative-sticky",
    "session.timeout.ms": 10000,
    "heartbeat.interval.ms": 2000,
}
# Offsets move only when the worker commits them, after its outputs are acknowledged.
CONSUMER_REQUIRED: dict[str, Any] = {"enable.auto.commit": False, "enable.auto.offset.store": False}


def connection_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Bootstrap servers, security and ``kafka.config``: the part every client shares.

    Raises:
        SecuritySettingsError: the security settings contradict or miss each other (named
            with the environment variable that sets them).
    """
    problem = security_problem(kafka)
    if problem:
        raise SecuritySettingsError(problem)
    return kafka.client_config()


def admin_config(kafka: KafkaSettings) -> dict[str, Any]:
    """An admin client's (or a metadata reader's) settings: the connection part alone."""
    return connection_config(kafka)


def _env(field: str) -> str:
    return f"kafka.{field} (CATMATCH_KAFKA__{field.upper()})"


def security_problem(kafka: KafkaSettings) -> str | None:
    """What is wrong with the security settings of ``kafka``, or None."""
    extra = kafka.config
    protocol = f"kafka.security_protocol is {kafka.security_protocol}"
    if kafka.uses_sasl:
        if not (kafka.sasl_mechanism or "sasl.mechanism" in extra or "sasl.mechanisms" in extra):
            return f"{protocol} but {_env('sasl_mechanism')} is not set (e.g. SCRAM-SHA-512)"
        if kafka.sasl_mechanism in PASSWORD_MECHANISMS:  # they log in with a name and password
            if not (kafka.sasl_username or "sasl.username" in extra):
                return f"{protocol} but {_env('sasl_username')} is not set"
            if kafka.sasl_password is None and "sasl.password" not in extra:
                return f"{protocol} but {_env('sasl_password')} is not set"
    elif kafka.sasl_mechanism or kafka.sasl_username or kafka.sasl_password is not None:
        return (f"{protocol}, so the SASL credentials set (kafka.sasl_*) would never be sent: "
                f"set {_env('security_protocol')} to SASL_SSL or SASL_PLAINTEXT")
    tls_files = {
        "ssl_ca_location": kafka.ssl_ca_location,
        "ssl_certificate_location": kafka.ssl_certificate_location,
        "ssl_key_location": kafka.ssl_key_location,
    }
    for name, path in tls_files.items():
        if path is None:
            continue
        if not kafka.uses_tls:
            return (f"{protocol}, which does not use TLS, but kafka.{name} is set: "
                    f"set {_env('security_protocol')} to SASL_SSL or SSL")
        if not path.is_file():
            return f"{_env(name)}: no file at {path}"
    return None


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
        **connection_config(kafka),
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
        **connection_config(settings.kafka),
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
        **connection_config(kafka),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    }
