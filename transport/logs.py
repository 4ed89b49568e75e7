"""librdkafka's errors and log lines, routed through Python logging.

Every client built by :mod:`transport.clients` gets ``error_cb`` and ``logger`` from here,
so nothing librdkafka says goes to stderr on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError

log = logging.getLogger("transport.kafka")

# librdkafka reports these while brokers restart; they are transient, not worth an ERROR.
TRANSIENT_ERRORS = frozenset({
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
})


def log_kafka_error(err: KafkaError) -> None:
    """``error_cb`` of long-lived clients: transient connection noise is a warning."""
    if err.code() in TRANSIENT_ERRORS:
        log.warning("kafka: %s", err)
    else:
        log.error("kafka: %s", err)


def debug_error(err: KafkaError) -> None:
    """``error_cb`` of short-lived clients, whose calls report failures themselves."""
    log.debug("librdkafka: %s", err)


def once_per_error() -> Callable[[KafkaError], None]:
    """An ``error_cb`` that logs each distinct client error once, as a warning."""
    seen: set[str] = set()

    def on_error(err: KafkaError) -> None:
        text = err.str()
        if text not in seen:
            seen.add(text)
            log.warning("kafka client: %s", text)

    return on_error


class DebugLogger:
    """A librdkafka ``logger`` that logs every line at DEBUG (connection attempts while a
    broker starts, for instance)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.debug(msg, *args)


LIBRDKAFKA_DEBUG = DebugLogger(logging.getLogger("transport.librdkafka"))
