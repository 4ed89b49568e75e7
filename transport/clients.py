"""Every confluent-kafka client of the project is built here, with its callbacks set.

Long-lived clients (the worker's) log librdkafka errors as warnings or errors, and refusals
once with their fix (:func:`transport.logs.error_logger`); short-lived ones (admin calls, the
CLI) are ``quiet``: their calls report failures themselves, so librdkafka's own lines go to
DEBUG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from transport.logs import LIBRDKAFKA, LIBRDKAFKA_DEBUG, error_logger, quiet_errors


def quiet_config(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` plus settings that keep librdkafka's connection errors off stderr (a refusal
    is still recorded, so the call that fails can name it: :mod:`transport.access`)."""
    out = dict(conf)
    out.setdefault("logger", LIBRDKAFKA_DEBUG)
    out.setdefault("error_cb", quiet_errors(conf))
    out.setdefault("reconnect.backoff.max.ms", 1000)
    return out


def _with_callbacks(
    conf: Mapping[str, Any], quiet: bool, error_cb: Callable[[KafkaError], None] | None
) -> dict[str, Any]:
    out = quiet_config(conf) if quiet else dict(conf)
    out.setdefault("logger", LIBRDKAFKA)
    if error_cb is not None:
        out["error_cb"] = error_cb
    out.setdefault("error_cb", error_logger(conf))
    return out


def new_consumer(
    conf: Mapping[str, Any],
    *,
    quiet: bool = False,
    error_cb: Callable[[KafkaError], None] | None = None,
) -> Consumer:
    """A ``Consumer`` for ``conf`` (from :mod:`transport.configuration`)."""
    return Consumer(_with_callbacks(conf, quiet, error_cb))


def new_producer(
    conf: Mapping[str, Any],
    *,
    quiet: bool = False,
    error_cb: Callable[[KafkaError], None] | None = None,
) -> Producer:
    """A ``Producer`` for ``conf`` (from :mod:`transport.configuration`)."""
    return Producer(_with_callbacks(conf, quiet, error_cb))


def new_admin(conf: Mapping[str, Any]) -> AdminClient:
    """An ``AdminClient`` for ``conf`` (:func:`transport.configuration.admin_config`), quiet."""
    return AdminClient(quiet_config(conf))
