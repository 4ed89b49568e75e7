"""Exactly-once: outputs and input offsets committed together in one Kafka transaction.

The ``exactly_once`` strategy (:class:`worker.delivery.ExactlyOnce`) queues each finished
batch here instead of producing it. At every commit tick, on revoke and at shutdown,
:meth:`TransactionalOutbox.commit` runs on the consumer thread and in one transaction
produces the batches whose offsets all lie below the partitions' commit positions (a batch
beyond a gap waits for a later one) and sends those positions with the consumer's group
metadata (KIP-447). Outputs and offsets become visible together or not at all, so
``read_committed`` readers never see a result missing or twice.

Errors are handled as confluent-kafka documents them, one call per tick and never in a
blocking loop: a *retriable* ``commit_transaction`` is called again, one that *requires
abort* is aborted (its batches stay queued), a *fatal* one replaces the producer with a new
session, which fences the old. Only a fence by another live instance with the same
``transactional.id`` stops the worker. Every blocking call is bounded (librdkafka's
``send_offsets_to_transaction`` can block far past its own timeout while the group
coordinator is down, librdkafka issue 5456); an overrun counts as fatal. An output the
broker refuses for good is replaced by its fallback (:mod:`worker.outputs`).

A refusal (:mod:`transport.access`) is neither: the records are fine and stay queued. A topic
the worker may not write fails the transaction as *abortable* (``TOPIC_AUTHORIZATION_FAILED``
from AddPartitionsToTxn; librdkafka does not say which topic, so the transaction's topics'
metadata is asked); a transactional id it may not use fails ``init_transactions`` as
*fatal* (a new producer is made for the next try); a refused login times the calls out.
The error is said once (then summarised) by ``ACCESS``, the lines that follow from it go to
DEBUG, and transactions are tried again with a capped backoff (``REFUSED_BACKOFF_S``)
instead of every tick, until the credential or ACL is back.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from core.settings import Settings
from transport.access import ACCESS, LOGIN, Denial, classify, is_refusal
from transport.clients import new_producer
from transport.configuration import transactional_config
from transport.producer import QUEUE_FULL_WAIT_S, OnDelivery, Record, queue_records
from transport.threads import CallTimedOut, call_bounded
from transport.types import TP
from worker.metrics import METRICS
from worker.outputs import PERMANENT_RECORD_ERRORS, Outgoing, replace_refused

log = logging.getLogger(__name__)

# How long past its own timeout a transactional call may block before it is abandoned.
CALL_GRACE_S = 5.0
# Fencing by another live producer with our transactional.id: stop, do not fight it.
FENCED = frozenset({KafkaError.PRODUCER_FENCED, KafkaError._FENCED})
# While the brokers refuse us: the first and the longest wait between two tries.
REFUSED_BACKOFF_S = (0.5, 5.0)


@dataclass(frozen=True, slots=True)
class Entry:
    """The outputs of one finished batch of one partition (replaced in place by fallbacks)."""

    partition: TP
    last_offset: int
    outputs: list[Outgoing]


class TransactionAborted(Exception):
    """Nothing was committed; the batches stay queued for the next commit."""


class _State(enum.Enum):
    READY = "ready"  # no transaction open
    COMMITTING = "committing"  # commit_transaction failed retriably: call it again
    ABORTING = "aborting"  # the transaction must be aborted before the next one
    BROKEN = "broken"  # a fatal error: a new producer is needed


def select(entries: Iterable[Entry], positions: dict[TP, int]) -> list[Entry]:
    """The entries a transaction committing ``positions`` must contain: every queued batch
    whose offsets all lie below its partition's position (and only those)."""
    return [
        e for e in entries
        if e.partition in positions and e.last_offset < positions[e.partition]
    ]


class TransactionalOutbox:
    """Queues finished batches; commits them with their offsets in one transaction.

    Thread-safe: the event loop adds entries, the consumer thread commits and drops them.
    """

    def __init__(
        self,
        settings: Settings,
        transactional_id: str,
        *,
        timeout_s: float = 30.0,
        on_committed: Callable[[list[Outgoing]], None] | None = None,
        producer: Producer | None = None,
        producer_factory: Callable[[], Producer] | None = None,
    ) -> None:
        self.transactional_id = transactional_id
        conf = transactional_config(settings, transactional_id)
        self._conf: dict[str, Any] = conf
        self._factory = producer_factory or (lambda: new_producer(conf))
        self._producer = producer if producer is not None else self._factory()
        self._timeout_s = timeout_s
        self._on_committed = on_committed
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._state = _State.READY
        self._inflight: tuple[list[Entry], dict[TP, int]] | None = None
        self._refused: list[tuple[Entry, int, KafkaError]] = []
        self._fresh = True  # the producer has not been used yet (init may be retried on it)
        self.resets = 0
        self._not_before = 0.0  # refused: no new try before this (time.monotonic())
        self._backoff_s = REFUSED_BACKOFF_S[0]

    @property
    def state(self) -> str:
        return self._state.value

    def init(self) -> None:
        """Register the transactional id (blocking, bounded): fences and aborts a
        predecessor's open transaction. If the brokers cannot be reached now, the next
        commit tries again."""
        try:
            self._bounded(self._producer.init_transactions, self._timeout_s)
        except (KafkaException, CallTimedOut) as exc:
            error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
            if error is not None and error.code() in FENCED:
                raise
            if error is not None and self._refusal(error) is None and not ACCESS.blocked:
                log.warning("init_transactions failed (%s); trying again at the next commit",
                            exc)
            # A fatal error (e.g. a refused transactional id) leaves the producer unusable.
            usable = not isinstance(exc, CallTimedOut) and not (error and error.fatal())
            self._state, self._fresh = _State.BROKEN, usable
            return
        log.info("transactional producer %s ready", self.transactional_id)

    def add(
        self,
        partition: TP,
        last_offset: int,
        outputs: Sequence[Outgoing],
        still_owned: Callable[[], bool] | None = None,
    ) -> bool:
        """Queue a finished batch (call before marking its offsets finished). A batch whose
        partition was revoked meanwhile (``still_owned()`` is false) is not queued: the next
        owner consumes it again, and queuing it could duplicate it if it came back here."""
        with self._lock:
            if still_owned is not None and not still_owned():
                return False
            self._entries.append(Entry(partition, last_offset, list(outputs)))
            return True

    def drop(self, partitions: Iterable[TP], also: Callable[[], None] | None = None) -> int:
        """Forget queued batches of partitions this worker no longer owns; ``also`` runs under
        the same lock (the worker forgets the partitions' offsets there, so no batch can be
        queued between the two)."""
        gone = set(partitions)
        with self._lock:
            if also is not None:
                also()
            before = len(self._entries)
            self._entries = [e for e in self._entries if e.partition not in gone]
            return before - len(self._entries)

    def queued(self) -> int:
        with self._lock:
            return len(self._entries)

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> dict[TP, int]:
        """Bring the outputs below ``offsets`` and the offsets into Kafka atomically.

        Blocking (each librdkafka call bounded by the timeout); call it on the consumer
        thread. Returns the positions committed, which are those of an earlier call when a
        retriable ``commit_transaction`` is finished first.

        Raises:
            TransactionAborted: nothing was committed now; the batches stay queued.
            KafkaException: this worker was fenced by another instance (stop it).
        """
        if time.monotonic() < self._not_before:
            raise TransactionAborted("the brokers refuse this client; waiting to try again")
        try:
            if self._state is _State.BROKEN:
                self._reset()
            if self._state is _State.ABORTING:
                self._abort()
            if self._state is _State.COMMITTING:
                return self._commit_inflight()
            if not offsets:
                return {}
            positions = {
                (tp.topic, tp.partition): tp.offset for tp in offsets
                if tp.topic is not None and tp.partition is not None
            }
            with self._lock:
                chosen = select(self._entries, positions)
            self._producer.begin_transaction()
            self._fresh = False
            self._inflight = (chosen, positions)
            self._state = _State.ABORTING  # until the commit is asked for
            for entry in chosen:
                self._produce(entry)
            group = consumer.consumer_group_metadata()
            self._bounded(
                self._producer.send_offsets_to_transaction, offsets, group, self._timeout_s
            )
            self._state = _State.COMMITTING
            return self._commit_inflight()
        except KafkaException as exc:
            self._failed(exc)
            raise TransactionAborted(str(exc.args[0] if exc.args else exc)) from exc
        except CallTimedOut as exc:
            log.log(_level(logging.ERROR), "%s; the transactional producer is replaced at the "
                    "next tick", exc)
            self._state, self._fresh = _State.BROKEN, False
            METRICS.transactions.labels(result="aborted").inc()
            raise TransactionAborted(str(exc)) from exc

    def _bounded(self, call: Callable[..., object], *args: object) -> None:
        """A blocking librdkafka call, abandoned (with its producer) past the timeout plus
        a grace period (:func:`transport.threads.call_bounded`)."""
        call_bounded(call, *args, bound_s=self._timeout_s + CALL_GRACE_S)

    def _commit_inflight(self) -> dict[TP, int]:
        assert self._inflight is not None
        started = time.perf_counter()
        self._bounded(self._producer.commit_transaction, self._timeout_s)
        chosen, positions = self._inflight
        self._inflight, self._state = None, _State.READY
        with self._lock:
            done = {id(e) for e in chosen}
            self._entries = [e for e in self._entries if id(e) not in done]
        METRICS.transactions.labels(result="committed").inc()
        METRICS.transaction_seconds.observe(time.perf_counter() - started)
        self._not_before, self._backoff_s = 0.0, REFUSED_BACKOFF_S[0]
        if ACCESS.blocked:  # all of it went in: the login, the id, the group, the topics
            written = {f"topic:{out.topic}" for entry in chosen for out in entry.outputs}
            ACCESS.cleared(LOGIN, "transactional_id:", "group:", *written)
        if self._on_committed is not None:  # once per transaction, with all its outputs
            self._on_committed([out for entry in chosen for out in entry.outputs])
        return positions

    def _failed(self, exc: KafkaException) -> None:
        """Decide what the next call does after ``exc`` (never blocks)."""
        error: KafkaError | None = exc.args[0] if exc.args else None
        if error is not None and error.code() in FENCED:
            log.error("producer %s fenced by another instance: %s", self.transactional_id, error)
            raise exc
        if error is not None:
            self._refusal(error)
        if self._state is _State.BROKEN:
            log.log(_level(logging.WARNING), "transactional producer not ready yet: %s", error)
            if error is not None and error.fatal():
                self._fresh = False  # unusable: the next try makes a new producer
        elif error is not None and error.fatal():
            log.log(_level(logging.ERROR), "transactional producer failed fatally (%s); a new "
                    "one starts next", error)
            self._state, self._fresh = _State.BROKEN, False
        elif self._state is _State.COMMITTING and error is not None and error.retriable():
            log.log(_level(logging.WARNING), "commit_transaction: %s; calling it again at the "
                    "next tick", error)
            return
        elif self._state is not _State.READY or (error is not None and error.txn_requires_abort()):
            log.log(_level(logging.WARNING), "transaction failed (%s); aborting, its batches go "
                    "in the next one", error)
            self._state = _State.ABORTING
        METRICS.transactions.labels(result="aborted").inc()

    def _refusal(self, error: KafkaError) -> Denial | None:
        """Record a refusal by the brokers and hold off the next try; None when ``error`` is
        not one."""
        if not is_refusal(error):
            return None
        topic = self._refused_topic() if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED \
            else None
        denial = classify(error, self._conf, topic=topic, operation="write", role="worker")
        if denial is None:
            return None
        ACCESS.denied(denial)
        self._not_before = time.monotonic() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, REFUSED_BACKOFF_S[1])
        return denial

    def _refused_topic(self) -> str | None:
        """Which topic of the failed transaction this user may not write: librdkafka does not
        say, but the broker hides such a topic's metadata from it."""
        if self._inflight is None:
            return None
        topics = sorted({out.topic for entry in self._inflight[0] for out in entry.outputs})
        for topic in topics:
            try:
                described = self._producer.list_topics(topic, timeout=2.0).topics.get(topic)
            except KafkaException:
                return None
            if described is not None and described.error is not None and (
                    described.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED):
                return topic
        return None

    def _abort(self) -> None:
        self._bounded(self._producer.abort_transaction, self._timeout_s)
        self._inflight, self._state = None, _State.READY
        self._apply_fallbacks()

    def _reset(self) -> None:
        """A new producer with the same transactional id: it fences the broken session."""
        if not self._fresh:
            old, self._producer = self._producer, self._factory()
            del old  # the new producer's init_transactions fences whatever it left open
            self._fresh = True
            self.resets += 1
        self._inflight = None
        self._bounded(self._producer.init_transactions, self._timeout_s)
        self._state = _State.READY
        self._apply_fallbacks()
        log.log(_level(logging.WARNING), "transactional producer %s restarted",
                self.transactional_id)

    def _produce(self, entry: Entry) -> None:
        """Queue a batch's outputs in the open transaction. One the broker refuses before
        sending (e.g. too large) is replaced by its fallback at once; one refused in its
        delivery report fails the transaction and is replaced before the next."""

        def on_delivery(index: int) -> OnDelivery:
            def report(err: KafkaError | None, _msg: object) -> None:
                if err is not None and err.code() in PERMANENT_RECORD_ERRORS:
                    self._refused.append((entry, index, err))

            return report

        def on_refused(index: int, error: KafkaError) -> Record:
            replacement = replace_refused(entry.outputs[index], error)
            if replacement is None:
                raise KafkaException(error)
            entry.outputs[index] = replacement
            return replacement.record

        records = [out.record for out in entry.outputs]
        for _full in queue_records(self._producer, records, on_delivery, on_refused):
            self._producer.poll(QUEUE_FULL_WAIT_S)  # the local queue is full: let it send

    def _apply_fallbacks(self) -> None:
        """Replace outputs the broker refused for good in the aborted transaction."""
        refused, self._refused = self._refused, []
        for entry, index, error in refused:
            entry.outputs[index] = replace_refused(entry.outputs[index], error) or (
                entry.outputs[index]
            )

    def close(self) -> None:
        """Abort what is still open and drop the producer."""
        if self._state in (_State.ABORTING, _State.COMMITTING):
            try:
                self._bounded(self._producer.abort_transaction, self._timeout_s)
            except (KafkaException, CallTimedOut) as exc:
                log.warning("abort at close failed: %s", exc)
        self._producer.flush(self._timeout_s)
        del self._producer



def _level(usual: int) -> int:
    """``usual``, or DEBUG while the brokers refuse this client: the refusal is the news
    (said by ACCESS), and these lines only follow from it."""
    return logging.DEBUG if ACCESS.blocked else usual
