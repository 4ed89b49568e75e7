"""The processing guarantee: how a batch's outputs become durable and offsets are committed.

``worker.processing_guarantee`` is read once, by :func:`choose_delivery`, which returns one
:class:`DeliveryStrategy`. The rest of the worker makes exactly one call into it at each of
four points and never asks which guarantee is on:

- a finished batch hands its records to :meth:`~DeliveryStrategy.deliver` before its offsets
  are marked finished (:mod:`worker.pipeline`);
- the commit tick, revocation and shutdown call :meth:`~DeliveryStrategy.commit` with the
  positions that are safe to commit (:mod:`worker.partitions`);
- a revoked or lost partition is given to :meth:`~DeliveryStrategy.forget`;
- :meth:`~DeliveryStrategy.start` and :meth:`~DeliveryStrategy.close` bracket the run.

:class:`AtLeastOnce` produces each batch's records itself and waits for the broker's
acknowledgements; its commit is a plain consumer commit. ``ExactlyOnce``
(:mod:`worker.transactions`) queues the records and commits them with the offsets in one
Kafka transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from core.settings import Settings
from transport.access import ACCESS, LOGIN, classify, is_refusal
from transport.configuration import worker_producer_config
from transport.producer import AsyncProducer
from transport.types import TP
from worker.metrics import METRICS
from worker.offsets import OffsetTracker, Ticket
from worker.outputs import PERMANENT_RECORD_ERRORS, Outgoing, count_outputs, replace_refused
from worker.transactions import TransactionAborted, TransactionalOutbox

log = logging.getLogger(__name__)

# OffsetCommit errors the broker gives one partition (the others of the request may pass).
PARTITION_COMMIT_ERRORS = frozenset({
    KafkaError.OFFSET_METADATA_TOO_LARGE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_COMMIT_OFFSET_SIZE,
})


class BatchAbandoned(Exception):
    """The worker is stopping before the batch finished; its offsets stay uncommitted."""


class DeliveryStrategy(Protocol):
    """One processing guarantee (see the module docstring for who calls what, and when)."""

    @property
    def by_partition(self) -> bool:
        """Whether every batch must hold a single partition."""
        ...

    async def start(self) -> None:
        """Prepare the output side (blocking set-up runs off the event loop)."""
        ...

    async def deliver(self, outgoing: list[Outgoing], tickets: list[Ticket]) -> None:
        """Take a finished batch's records; when this returns, its offsets may be marked
        finished. Raises :class:`BatchAbandoned` when the worker stops first."""
        ...

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> dict[TP, int]:
        """Commit ``offsets`` (consumer thread); returns the positions the broker accepted,
        which may be fewer than asked (none at all after an aborted transaction)."""
        ...

    def forget(self, partitions: set[TP], also: Callable[[], None]) -> None:
        """Partitions revoked or lost (consumer thread): drop what is held for them. ``also``
        forgets their offsets, atomically with that."""
        ...

    async def close(self) -> None:
        """Flush or abort what is still open."""
        ...


class AtLeastOnce:
    """Results and dead letters produced per batch; offsets committed after their acks.

    A record the broker refuses for good is replaced by its fallback; any other failed
    delivery is produced again with a capped backoff, until the worker stops. A refusal by
    ACL (``TOPIC_AUTHORIZATION_FAILED``) is of the second kind: the record is fine, the
    worker's user may not write there yet, so it waits (said once by
    :data:`~transport.access.ACCESS`) and is never dead-lettered.
    """

    by_partition = False

    def __init__(self, producer_config: dict[str, Any], stop: asyncio.Event) -> None:
        self._config = producer_config
        self._stop = stop
        self._producer: AsyncProducer | None = None

    async def start(self) -> None:
        self._producer = AsyncProducer(self._config)

    async def deliver(self, outgoing: list[Outgoing], tickets: list[Ticket]) -> None:
        assert self._producer is not None, "start() first"
        backoff = 0.1
        todo = outgoing
        while todo:
            errors = await self._producer.produce_many([o.record for o in todo])
            again: list[Outgoing] = []
            delivered: list[Outgoing] = []
            retried = 0
            for out, error in zip(todo, errors, strict=True):
                if error is None:
                    delivered.append(out)
                    continue
                replacement = replace_refused(out, error)
                retried += replacement is None
                again.append(replacement or out)
            count_outputs(delivered)
            if delivered and ACCESS.blocked:
                ACCESS.cleared(LOGIN, *{f"topic:{o.topic}" for o in delivered})
            if retried:
                METRICS.delivery_errors.inc(retried)
                if not self._refused(todo, errors):
                    log.warning("%d deliveries failed; producing them again", retried)
                if self._stop.is_set():
                    raise BatchAbandoned(f"stopping with {retried} undelivered outputs")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            todo = again

    def _refused(self, todo: list[Outgoing], errors: list[KafkaError | None]) -> bool:
        """Record the refusals among ``errors``; whether the failures are all explained by
        one (a refused login or ACL: said once by ACCESS, not in a line per retry)."""
        unexplained = False
        seen: set[str] = set()
        for out, error in zip(todo, errors, strict=True):
            if error is None or error.code() in PERMANENT_RECORD_ERRORS:
                continue
            denial = classify(error, self._config, topic=out.topic, operation="write",
                              role="worker") if is_refusal(error) else None
            if denial is not None:
                if out.topic not in seen:
                    seen.add(out.topic)
                    ACCESS.denied(denial)
            elif ACCESS.login_denial() is None:  # e.g. timed out while the login is refused
                unexplained = True
        return not unexplained

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> dict[TP, int]:
        """A synchronous commit, answered per partition.

        The broker accepts or refuses each partition of an OffsetCommit on its own. When it
        refuses some, librdkafka fails the whole call with the first partition's error and
        the others' answers are lost, so the partitions are then committed one by one to
        learn which were refused. A refused partition is left out of the result: its
        position is not counted as committed and is offered again next tick.

        Raises:
            KafkaException: the commit failed as a whole (coordinator, generation, ...).
        """
        try:
            answered = consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            if len(offsets) < 2 or _error_code(exc) not in PARTITION_COMMIT_ERRORS:
                raise
            accepted, refused = _commit_each(consumer, offsets)
        else:
            accepted, refused = accepted_offsets(answered)
        if refused:
            METRICS.commit_errors.inc(len(refused))
            denied = {tp for tp, why in refused.items() if "authorization" in why.lower()}
            for topic, _ in sorted(denied):  # said once by ACCESS, not at every tick
                denial = classify(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED),
                                  self._config, topic=topic,
                                  operation="commit offsets of", role="worker")
                if denial is not None:
                    ACCESS.denied(denial)
            if len(denied) < len(refused):
                log.warning("the broker refused the commit of %s",
                            ", ".join(f"{t}[{p}]: {why}" for (t, p), why in refused.items()))
        return accepted

    def forget(self, partitions: set[TP], also: Callable[[], None]) -> None:
        also()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.close()


class ExactlyOnce:
    """The ``exactly_once`` :class:`~worker.delivery.DeliveryStrategy`: batches are queued in
    a :class:`TransactionalOutbox` and committed with their offsets in one transaction.

    Batches hold a single partition, so a revoked or lost partition's queued outputs can be
    dropped on their own (the next owner consumes them again from the committed offset).
    """

    by_partition = True

    def __init__(self, settings: Settings, transactional_id: str, tracker: OffsetTracker) -> None:
        self.transactional_id = transactional_id
        self._settings = settings
        self._tracker = tracker
        self._outbox: TransactionalOutbox | None = None

    @property
    def outbox(self) -> TransactionalOutbox:
        assert self._outbox is not None, "start() first"
        return self._outbox

    async def start(self) -> None:
        """Open the transactional producer: it fences a predecessor with the same
        ``transactional.id`` and aborts what that one left open."""
        self._outbox = TransactionalOutbox(
            self._settings, self.transactional_id,
            timeout_s=self._settings.worker.transaction_timeout_s, on_committed=count_outputs,
        )
        await asyncio.to_thread(self._outbox.init)

    async def deliver(self, outgoing: list[Outgoing], tickets: list[Ticket]) -> None:
        partitions = {(t.topic, t.partition) for t in tickets}
        if len(partitions) != 1:
            raise ValueError(f"exactly-once batches hold one partition, got {partitions}")
        queued = self.outbox.add(
            partitions.pop(), max(t.offset for t in tickets), outgoing,
            still_owned=lambda: self._tracker.current(tickets),
        )
        if not queued:
            log.info("outputs of a revoked partition's batch dropped; its next owner redoes it")

    def commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> dict[TP, int]:
        try:  # the outputs below these positions and the positions, in one transaction
            return self.outbox.commit(consumer, offsets)
        except TransactionAborted:
            return {}

    def forget(self, partitions: set[TP], also: Callable[[], None]) -> None:
        self.outbox.drop(partitions, also=also)

    async def close(self) -> None:
        if self._outbox is not None:
            await asyncio.to_thread(self._outbox.close)


def _commit_each(
    consumer: Consumer, offsets: list[TopicPartition]
) -> tuple[dict[TP, int], dict[TP, str]]:
    """Commit partition by partition: accepted positions, and why the others were refused."""
    accepted: dict[TP, int] = {}
    refused: dict[TP, str] = {}
    for offset in offsets:
        tp = (offset.topic, offset.partition)
        try:
            consumer.commit(offsets=[offset], asynchronous=False)
        except KafkaException as exc:
            if _error_code(exc) not in PARTITION_COMMIT_ERRORS:
                raise
            refused[tp] = str(exc.args[0].str())
        else:
            accepted[tp] = offset.offset
    return accepted, refused


def _error_code(exc: KafkaException) -> int | None:
    error = exc.args[0] if exc.args else None
    return error.code() if isinstance(error, KafkaError) else None


def accepted_offsets(answered: list[TopicPartition]) -> tuple[dict[TP, int], dict[TP, str]]:
    """Split a commit's per-partition answer into accepted positions and refusals."""
    accepted: dict[TP, int] = {}
    refused: dict[TP, str] = {}
    for tp in answered:
        if tp.error is not None:
            refused[(tp.topic, tp.partition)] = tp.error.str()
        elif tp.offset is not None and tp.offset >= 0:
            accepted[(tp.topic, tp.partition)] = tp.offset
    return accepted, refused


def choose_delivery(
    settings: Settings, worker_id: str, tracker: OffsetTracker, stop: asyncio.Event
) -> DeliveryStrategy:
    """The one place ``worker.processing_guarantee`` is read.

    Under ``exactly_once`` the ``transactional.id`` is ``<group>-<worker id>``: stable per
    slot (``worker-<i>``, a StatefulSet pod name), so a restarted worker fences its
    predecessor and aborts what it left open.
    """
    if settings.worker.processing_guarantee == "exactly_once":
        return ExactlyOnce(settings, f"{settings.worker.group_id}-{worker_id}", tracker)
    return AtLeastOnce(worker_producer_config(settings), stop)
