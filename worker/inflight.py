"""The batches in flight: how consumed messages are dispatched, and what a failure means.

Messages of a crash loop (:mod:`worker.crashloop`) go alone, with the permit to dead-letter
them if they fail again; the others go as one batch, or one per partition under
exactly-once. A batch that fails unexpectedly records the failure with its partitions and
stops the worker (through ``on_fatal``); one abandoned at shutdown just stays uncommitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from transport.access import ACCESS, LOGIN, classify, is_refusal
from transport.consumer import position
from transport.logs import CONNECTION
from transport.types import TP
from worker.circuit import CircuitStopped
from worker.delivery import BatchAbandoned
from worker.messages import describe
from worker.metrics import METRICS
from worker.offsets import OffsetTracker, Ticket
from worker.partitions import Heal, PartitionBook
from worker.pipeline import BatchProcessor
from worker.predictor_client import PredictorUnavailable

log = logging.getLogger(__name__)

# Expected when stopping: the batch stays uncommitted and is consumed again later.
_STOPPED = (BatchAbandoned, CircuitStopped, PredictorUnavailable)


def is_fenced(err: KafkaError) -> bool:
    """A static member fenced by another one with the same ``group.instance.id``."""
    return err.code() == KafkaError.FENCED_INSTANCE_ID or "same group.instance.id" in err.str()


class InFlight:
    """The worker's running batch tasks."""

    def __init__(
        self,
        tracker: OffsetTracker,
        book: PartitionBook,
        stop: asyncio.Event,
        on_fatal: Callable[[BaseException], None],
        on_fenced: Callable[[KafkaError], None],
        *,
        by_partition: bool,
        consumer_conf: Mapping[str, Any] | None = None,
    ) -> None:
        self._consumer_conf = consumer_conf or {}
        self._tracker = tracker
        self._book = book
        self._stop = stop
        self._on_fatal = on_fatal
        self._on_fenced = on_fenced
        self._by_partition = by_partition
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def inflight(self) -> int:
        return len(self._tasks)

    async def wait_one(self, within_s: float, idle_s: float) -> None:
        """Until a batch finishes (at most ``within_s``), or ``idle_s`` when none runs."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(idle_s)

    def dispatch(self, processor: BatchProcessor, messages: list[Message]) -> None:
        """Start the batches for what ``consume`` returned (errors are counted or fatal)."""
        batch: list[Message] = []
        healing: list[tuple[Message, Heal]] = []
        may_heal = self._book.any_crash_loop
        for msg in messages:
            err = msg.error()
            if err is not None:
                METRICS.kafka_errors.inc()
                denial = classify(err, self._consumer_conf, topic=msg.topic(),
                                  operation="read", role="worker") if is_refusal(err) else None
                if denial is not None:  # said once by ACCESS; the consumer keeps trying
                    ACCESS.denied(denial)
                    continue
                if is_fenced(err):
                    self._on_fenced(err)  # may be a broker restart, not a twin: rejoin
                    return
                if err.fatal() or err.code() == KafkaError._FATAL:
                    # e.g. FENCED_INSTANCE_ID: another worker uses our group.instance.id.
                    log.error("fatal consumer error, stopping: %s", err)
                    self._on_fatal(KafkaException(err))
                    return
                log.warning("consume error: %s", err)
                continue
            if not may_heal:
                batch.append(msg)
                continue
            topic, partition, offset = position(msg)
            heal = self._book.heal_for((topic, partition), offset)
            if heal is not None:  # a crash loop on this message: alone, and healed if need be
                healing.append((msg, heal))
            else:
                batch.append(msg)
        METRICS.consumed.inc(len(batch) + len(healing))
        if batch or healing:
            CONNECTION.ok()
            if ACCESS.blocked:  # records flow: the login, the group and the topic work
                topics = {m.topic() for m in batch} | {m.topic() for m, _ in healing}
                ACCESS.cleared(LOGIN, "group:", *(f"topic:{t}" for t in topics))
        groups: list[tuple[list[Message], Heal | None]] = [([m], h) for m, h in healing]
        # exactly-once: one partition per batch, so the outbox can drop a revoked partition
        groups += [(g, None) for g in split_batch(batch, by_partition=self._by_partition)]
        for group, heal in groups:
            METRICS.batch_size.observe(len(group))
            tickets = self._tracker.track_many(map(position, group))
            task = asyncio.create_task(self._run(processor, group, tickets, heal))
            self._tasks.add(task)
            task.add_done_callback(self._done)
        METRICS.inflight_batches.set(len(self._tasks))

    async def _run(
        self, processor: BatchProcessor, group: list[Message], tickets: list[Ticket],
        heal: Heal | None,
    ) -> None:
        try:
            await processor.process(group, tickets, heal=heal)
        except _STOPPED:
            raise
        except Exception as exc:
            # A bug, not bad input: remember where it struck, with the committed offset.
            ranges: dict[TP, list[int]] = {}
            for t in tickets:
                ranges.setdefault((t.topic, t.partition), []).append(t.offset)
            for tp, offsets in ranges.items():
                self._book.crashed(tp, min(offsets), max(offsets), describe(exc))
            raise

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        METRICS.inflight_batches.set(len(self._tasks))
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, _STOPPED) and self._stop.is_set():
            log.info("batch left uncommitted at shutdown: %s", exc)
            return
        # A bug, not bad input (bad input is dead-lettered). Stop; the supervisor restarts us
        # and the batch is consumed again from the last committed offset.
        log.error("batch failed unexpectedly; stopping worker", exc_info=exc)
        self._on_fatal(exc)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Let running batches finish (cancelled after ``timeout_s``)."""
        if not self._tasks:
            return
        log.info("waiting for %d in-flight batches", len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


def split_batch(messages: list[Message], *, by_partition: bool) -> list[list[Message]]:
    """One batch, or one per partition (in first-seen order) when ``by_partition``."""
    if not messages:
        return []
    if not by_partition:
        return [messages]
    groups: dict[TP, list[Message]] = {}
    for msg in messages:
        topic, partition, _ = position(msg)
        groups.setdefault((topic, partition), []).append(msg)
    return list(groups.values())
