"""Exactly-once: outputs and input offsets committed together in one Kafka transaction.

With ``worker.processing_guarantee: exactly_once`` a finished batch does not produce its
results and dead letters itself. It hands them to the :class:`TransactionalOutbox` and
marks its offsets finished. At every commit tick (and on revoke and at shutdown) the
worker calls :meth:`TransactionalOutbox.commit` on the consumer thread. That one call:

1. takes the batches whose offsets all lie below the partitions' commit positions
   (:class:`~worker.offsets.OffsetTracker`: the first offset still in flight);
2. ``begin_transaction``, produces their outputs, ``send_offsets_to_transaction`` with those
   positions and the consumer's group metadata, ``commit_transaction``.

Outputs and offsets become visible together or not at all, so a crash, a kill or a lost
partition at any point leads to neither a missing nor a duplicated result for consumers
that read with ``isolation.level=read_committed``. A batch beyond a gap (an earlier batch of
its partition is still at the predictor) waits for a later transaction. A transaction that
fails abortably is aborted and its batches stay queued for the next one. A fenced producer
(another live worker with the same ``transactional.id``) is fatal. Batches hold one
partition each (the worker splits them), so a revoked or lost partition's queued batches
can be dropped on their own; the next owner consumes them again from the committed offset.

The group generation in the offsets fences zombies (KIP-447), and ``transactional.id`` is
stable per worker slot, so a restarted worker also aborts what its predecessor left open.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from core.settings import Settings
from transport.clients import new_producer
from transport.configuration import transactional_config
from transport.producer import Headers
from worker.metrics import METRICS

log = logging.getLogger(__name__)

TP = tuple[str, int]
COMMIT_RETRIES = 5


class Output(Protocol):
    """What the outbox produces (``worker.pipeline.Outgoing`` satisfies it)."""

    @property
    def topic(self) -> str: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Headers | None: ...


OutputT = TypeVar("OutputT", bound=Output)


@dataclass(frozen=True, slots=True)
class Entry(Generic[OutputT]):
    """The outputs of one finished batch of one partition."""

    partition: TP
    last_offset: int
    outputs: Sequence[OutputT]


class TransactionAborted(Exception):
    """The transaction was aborted; its batches stay queued for the next commit."""


class TransactionStuck(RuntimeError):
    """A failed transaction could not even be aborted: the worker must restart."""


def select(entries: Iterable[Entry[OutputT]], positions: dict[TP, int]) -> list[Entry[OutputT]]:
    """The entries a transaction committing ``positions`` must contain: every queued batch
    whose offsets all lie below its partition's position (and only those)."""
    return [
        e for e in entries
        if e.partition in positions and e.last_offset < positions[e.partition]
    ]


class TransactionalOutbox(Generic[OutputT]):
    """Queues finished batches; commits them with their offsets in one transaction.

    Thread-safe: the event loop adds entries, the consumer thread commits and drops them.
    """

    def __init__(
        self,
        settings: Settings,
        transactional_id: str,
        *,
        timeout_s: float = 30.0,
        on_committed: Callable[[OutputT], None] | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.transactional_id = transactional_id
        self._producer = (
            producer
            if producer is not None
            else new_producer(transactional_config(settings, transactional_id))
        )
        self._timeout_s = timeout_s
        self._on_committed = on_committed
        self._lock = threading.Lock()
        self._entries: list[Entry[OutputT]] = []

    def init(self) -> None:
        """Register the transactional id (blocking): fences and aborts a predecessor's open
        transaction."""
        self._producer.init_transactions(self._timeout_s)
        log.info("transactional producer %s ready", self.transactional_id)

    def add(self, partition: TP, last_offset: int, outputs: Sequence[OutputT]) -> None:
        """Queue a finished batch (call before marking its offsets finished)."""
        with self._lock:
            self._entries.append(Entry(partition, last_offset, list(outputs)))

    def drop(self, partitions: Iterable[TP]) -> int:
        """Forget queued batches of partitions this worker no longer owns."""
        gone = set(partitions)
        with self._lock:
            before = len(self._entries)
            self._entries = [e for e in self._entries if e.partition not in gone]
            return before - len(self._entries)

    def queued(self) -> int:
        with self._lock:
            return len(self._entries)

    def commit(self, consumer: Consumer, positions: dict[TP, int]) -> dict[TP, int]:
        """Produce the selected batches and commit them with ``positions`` atomically.

        Blocking; call it on the consumer thread. Returns the committed positions.

        Raises:
            TransactionAborted: aborted; nothing was committed, the batches stay queued.
            TransactionStuck: the abort failed too; restart the worker.
            KafkaException: a fatal error (e.g. fenced by a newer producer).
        """
        if not positions:
            return {}
        with self._lock:
            chosen = select(self._entries, positions)
        started = time.perf_counter()
        try:
            self._producer.begin_transaction()
            for entry in chosen:
                for out in entry.outputs:
                    self._produce(out)
            offsets = [TopicPartition(t, p, o) for (t, p), o in positions.items()]
            self._producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), self._timeout_s
            )
            self._commit_transaction()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise
            # Abortable or not, end it: a transaction left open would block the next one.
            # If even the abort fails, the error propagates and the worker restarts.
            log.warning("transaction failed (%s); aborting, its batches go in the next one",
                        error)
            try:
                self._producer.abort_transaction(self._timeout_s)
            except KafkaException as abort_exc:
                raise TransactionStuck(f"abort after {error} failed: {abort_exc}") from exc
            METRICS.transactions.labels(result="aborted").inc()
            raise TransactionAborted(str(error)) from exc
        with self._lock:
            done = {id(e) for e in chosen}
            self._entries = [e for e in self._entries if id(e) not in done]
        METRICS.transactions.labels(result="committed").inc()
        METRICS.transaction_seconds.observe(time.perf_counter() - started)
        if self._on_committed is not None:
            for entry in chosen:
                for out in entry.outputs:
                    self._on_committed(out)
        return positions

    def _produce(self, out: Output) -> None:
        while True:
            try:
                self._producer.produce(out.topic, value=out.value, key=out.key,
                                       headers=out.headers)
                return
            except BufferError:  # local queue full: let librdkafka send some
                self._producer.poll(0.05)

    def _commit_transaction(self) -> None:
        for attempt in range(1, COMMIT_RETRIES + 1):
            try:
                self._producer.commit_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or attempt == COMMIT_RETRIES:
                    raise
                log.warning("commit_transaction: %s; retrying (%d)", error, attempt)

    def close(self) -> None:
        """Drop the producer (nothing is left open: every transaction ends in commit)."""
        self._producer.flush(self._timeout_s)
        del self._producer
