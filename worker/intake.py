"""What the worker takes from Kafka next: a batch while it has capacity, else nothing.

With capacity (fewer than ``max_inflight_batches`` running and the predictor circuit
closed) the next batch is formed "fill while busy": while the predictor has a free slot
(fewer than ``predictor_concurrency`` batches in flight) whatever has arrived goes at once,
since waiting to fill a batch would only add latency; otherwise the batch fills until it
holds ``size`` messages, a slot frees (checked every ``FILL_SLICE_S``) or ``batch_wait_ms``
has passed. Batches thus grow with the load by themselves.

At capacity the intake waits for a batch to finish; librdkafka stops fetching on its own
once its queue is full. Only when this lasts ``pause_after_s`` (a cold or failing
predictor), or the circuit is open, are the partitions paused, so ``consume`` serves
rebalances and stays within ``max.poll.interval.ms`` without taking more work. Pause/resume
is kept rare on purpose: librdkafka drops prefetched messages on pause, and pausing on every
batch stalled a partition in our benchmark (races of that kind: librdkafka issue 5591).
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Message

from core.settings import WorkerSettings
from transport.consumer import AsyncConsumer
from worker.batching import BatchSizer
from worker.circuit import PredictorCircuit
from worker.inflight import InFlight
from worker.membership import Membership
from worker.partitions import PartitionBook

log = logging.getLogger(__name__)

# While a batch fills behind a busy predictor: how often to look whether a slot is free.
FILL_SLICE_S = 0.004
# With nothing in flight: the longest wait for a first message before the loop goes round.
IDLE_POLL_S = 0.1

# Consumed messages with the book's ``forgets`` mark taken after the call that returned them.
Slice = tuple[list[Message], int]


class Intake:
    """Decides between filling a batch and holding back."""

    def __init__(
        self,
        consumer: AsyncConsumer,
        book: PartitionBook,
        batches: InFlight,
        membership: Membership,
        circuit: PredictorCircuit,
        sizer: BatchSizer,
        settings: WorkerSettings,
    ) -> None:
        self._consumer = consumer
        self._book = book
        self._batches = batches
        self._membership = membership
        self._circuit = circuit
        self._sizer = sizer
        self._max_inflight = settings.max_inflight_batches
        self._slots = settings.predictor_concurrency
        self._pause_after_s = settings.pause_after_s
        self.wait_s = max(settings.batch_wait_ms, 1) / 1000
        self._full_since: float | None = None

    async def take(self) -> list[Message]:
        """The messages to dispatch now (often none)."""
        held = self._circuit.is_open  # a predictor fault: take no more work
        if self._batches.inflight < self._max_inflight and not held:
            self._full_since = None
            if self._membership.paused:
                await self._membership.resume()
            return await self._fill(self._sizer.size)
        self._full_since = self._full_since or time.monotonic()
        await self._batches.wait_one(within_s=1.0, idle_s=min(self.wait_s * 10, 0.5))
        long_full = time.monotonic() - self._full_since >= self._pause_after_s
        if not self._membership.paused and (held or long_full):
            await self._membership.pause()
        if self._membership.paused:  # what was fetched before the pause took effect
            return await self._consumer.consume(self._sizer.size, 0)
        return []

    async def _fill(self, size: int) -> list[Message]:
        consumer, book = self._consumer, self._book
        slices: list[Slice] = []
        if self._batches.inflight < self._slots:  # bounded, so the loop still commits and beats
            first = await consumer.consume(1, IDLE_POLL_S)
            if not first:
                return []
            slices.append((first, book.forgets))
            if size > 1:  # and what is already fetched
                slices.append((await consumer.consume(size - 1, 0), book.forgets))
            return still_ours(book, slices)
        deadline = time.monotonic() + self.wait_s
        got = 0
        while True:
            left = deadline - time.monotonic()
            more = await consumer.consume(size - got, max(min(FILL_SLICE_S, left), 0))
            slices.append((more, book.forgets))
            got += len(more)
            if got >= size or left <= FILL_SLICE_S or self._batches.inflight < self._slots:
                return still_ours(book, slices)


def still_ours(book: PartitionBook, slices: list[Slice]) -> list[Message]:
    """The messages of ``slices`` whose partition was not revoked or lost after they were
    consumed (a batch may take several ``consume`` calls, and a rebalance may be served in
    any of them). Dropping the others is safe: they were never tracked, so no commit passed
    them, and their partition's next owner (perhaps this worker again) consumes them from
    the committed offset. Dispatching them would track offsets of an assignment that is
    gone."""
    now = book.forgets
    out: list[Message] = []
    for messages, mark in slices:
        if mark == now:
            out += messages
            continue
        gone = book.stale(mark)
        kept = [m for m in messages if (m.topic(), m.partition()) not in gone]
        if len(kept) < len(messages):
            log.info("%d message(s) of partitions revoked meanwhile left to their next owner",
                     len(messages) - len(kept))
        out += kept
    return out
