"""librdkafka's errors and log lines, routed through Python logging, without floods.

Every client built by :mod:`transport.clients` gets ``error_cb`` and ``logger`` from here,
so nothing librdkafka says goes to stderr on its own. While a broker is down librdkafka
reports the same connection failure every few milliseconds, on two channels (a log line and
an error event). Here they become one story: a warning when the brokers become unreachable
(a state change), a summary every ``SUMMARY_EVERY_S`` while they stay so, and one line when
they are reached again (:class:`ConnectionState`). Other repeated log lines are let through
once per ``SUMMARY_EVERY_S`` with a count of what was held back (:class:`RepeatFilter`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from transport.access import ACCESS, classify, is_refusal

log = logging.getLogger("transport.kafka")
librdkafka_log = logging.getLogger("transport.librdkafka")

SUMMARY_EVERY_S = 30.0
# librdkafka reports these while brokers restart; they are transient, not worth an ERROR.
TRANSIENT_ERRORS = frozenset({
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
})
# Facilities whose lines repeat what error_cb already reports (connection failures).
_DUPLICATED = ("FAIL ",)
_NUMBERS = re.compile(r"\d+")


class ConnectionState:
    """Up or down, as the transient errors and the successes that the clients see say.

    Thread-safe; one per process (:data:`CONNECTION`). ``on_change(up)`` is called on each
    state change (the worker exports it as a metric).
    """

    def __init__(self, summary_every_s: float = SUMMARY_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._summary_every_s = summary_every_s
        self.up: bool | None = None
        self._down_since = 0.0
        self._errors = 0
        self._last_summary = 0.0
        self._last_error = ""
        self.on_change: Callable[[bool], None] | None = None

    def error(self, err: KafkaError) -> None:
        """A transient connection error from any client."""
        now = time.monotonic()
        with self._lock:
            self._errors += 1
            self._last_error = err.str()
            # A refused login is the reason, said by ACCESS: "unreachable" would mislead.
            refused = ACCESS.login_denial() is not None
            if self.up is not False:
                self.up, self._down_since, self._last_summary, self._errors = False, now, now, 1
                if not refused:
                    log.warning("Kafka unreachable: %s (repeats are summarised every %.0f s)",
                                err.str(), self._summary_every_s)
                changed = True
            else:
                changed = False
                if now - self._last_summary >= self._summary_every_s and not refused:
                    log.warning("Kafka still unreachable after %.0f s: %d connection errors, "
                                "last: %s", now - self._down_since, self._errors, err.str())
                    self._last_summary = now
        if changed and self.on_change is not None:
            self.on_change(False)

    def ok(self) -> None:
        """Something reached a broker (a fetch, a commit, a delivery)."""
        with self._lock:
            if self.up is True:
                return
            was_down = self.up is False
            self.up = True
            took, errors = time.monotonic() - self._down_since, self._errors
        if was_down:
            log.warning("Kafka reachable again after %.1f s (%d connection errors)", took, errors)
        if self.on_change is not None:
            self.on_change(True)


CONNECTION = ConnectionState()


def log_kafka_error(err: KafkaError) -> None:
    """``error_cb`` of long-lived clients: connection noise feeds :data:`CONNECTION`; other
    errors are logged as errors."""
    if err.code() in TRANSIENT_ERRORS:
        CONNECTION.error(err)
    else:
        log.error("kafka: %s", err)


def error_logger(conf: Mapping[str, Any]) -> Callable[[KafkaError], None]:
    """``error_cb`` of a long-lived client built from ``conf``: a refusal (login, TLS, ACL)
    goes to :data:`~transport.access.ACCESS`, which says it once with its fix; the rest
    as :func:`log_kafka_error`."""

    def on_error(err: KafkaError) -> None:
        denial = classify(err, conf) if is_refusal(err) else None
        if denial is not None:
            ACCESS.denied(denial)
        else:
            log_kafka_error(err)

    return on_error


def quiet_errors(conf: Mapping[str, Any]) -> Callable[[KafkaError], None]:
    """``error_cb`` of a short-lived client, whose calls report failures themselves: a
    refusal is recorded (quietly) so that the failure can name it; the rest goes to DEBUG."""

    def on_error(err: KafkaError) -> None:
        denial = classify(err, conf) if is_refusal(err) else None
        if denial is not None:
            ACCESS.denied(denial, quiet=True)
        log.debug("librdkafka: %s", err)

    return on_error


def debug_error(err: KafkaError) -> None:
    """``error_cb`` of short-lived clients, whose calls report failures themselves."""
    log.debug("librdkafka: %s", err)


def once_per_error(conf: Mapping[str, Any] | None = None) -> Callable[[KafkaError], None]:
    """An ``error_cb`` that logs each distinct client error once, as a warning; a refusal
    (with ``conf``, named with its fix) once per kind, however often librdkafka repeats it."""
    seen: set[str] = set()

    def on_error(err: KafkaError) -> None:
        denial = classify(err, conf) if conf is not None and is_refusal(err) else None
        if denial is not None:
            ACCESS.denied(denial, quiet=True)
        text = denial.message if denial is not None else err.str()
        if text not in seen:
            seen.add(text)
            log.warning("kafka client: %s", text)

    return on_error


class RepeatFilter(logging.Filter):
    """Lets a line through once per window per shape (numbers ignored), then once more with
    the count of lines held back."""

    def __init__(self, window_s: float = SUMMARY_EVERY_S) -> None:
        super().__init__()
        self._window_s = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        shape = _NUMBERS.sub("#", f"{record.levelno}:{record.getMessage()}")[:300]
        now = time.monotonic()
        with self._lock:
            first, held = self._seen.get(shape, (0.0, 0))
            if now - first < self._window_s:
                self._seen[shape] = (first, held + 1)
                return False
            self._seen[shape] = (now, 0)
            if len(self._seen) > 1000:  # forget old shapes
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._window_s}
        if held:
            record.msg = f"{record.getMessage()} ({held} similar lines in the last " \
                         f"{self._window_s:.0f} s not shown)"
            record.args = None
        return True


librdkafka_log.addFilter(RepeatFilter())


class LibrdkafkaLogger:
    """The ``logger`` of long-lived clients. confluent-kafka passes Python levels; lines that
    repeat a connection failure already reported through ``error_cb`` go to DEBUG, the rest
    keep their level, through :class:`RepeatFilter`."""

    def log(self, level: int, msg: str, *args: Any) -> None:
        text = msg % args if args else msg
        if text.startswith(_DUPLICATED):
            level = logging.DEBUG
        librdkafka_log.log(level, "%s", text)


class DebugLogger:
    """A librdkafka ``logger`` that logs every line at DEBUG (connection attempts while a
    broker starts, for instance)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def log(self, level: int, msg: str, *args: Any) -> None:
        self._logger.debug(msg, *args)


LIBRDKAFKA = LibrdkafkaLogger()
LIBRDKAFKA_DEBUG = DebugLogger(logging.getLogger("transport.librdkafka.quiet"))
