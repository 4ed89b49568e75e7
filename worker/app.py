"""One worker: an asyncio loop that consumes batches and keeps a few of them in flight.

Offsets are committed only up to the first message whose output is not yet acknowledged
(:mod:`worker.offsets`, :mod:`worker.partitions`). When the in-flight limit is reached, or a
predictor fault holds the stream (:mod:`worker.circuit`), the assigned partitions are
paused, so ``consume`` keeps being called (group membership, rebalances) without fetching
more than the worker can handle. With ``processing_guarantee: exactly_once`` the commit is a
Kafka transaction holding the outputs and the offsets (:mod:`worker.transactions`), and
every batch holds one partition. A batch that fails unexpectedly stops the worker, after
recording the failure with the partition's committed offset (:mod:`worker.crashloop`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from core.settings import Settings
from transport.configuration import consumer_config, worker_producer_config
from transport.consumer import AsyncConsumer
from transport.logs import CONNECTION
from transport.producer import AsyncProducer
from worker.health import HealthServer
from worker.inflight import InFlight
from worker.metrics import METRICS
from worker.offsets import OffsetTracker
from worker.outputs import Outgoing, OutputBuilder, count_outputs
from worker.partitions import PartitionBook
from worker.pipeline import BatchProcessor
from worker.predictor_client import PredictorClient, PredictorState
from worker.probes import LOOP_STALL_S, Progress
from worker.transactions import TransactionalOutbox
from worker.wiring import (
    max_record_bytes,
    predictor_client,
    result_cache,
    retry_policy,
    tokenizer_source,
)

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 2.0
# While a batch fills behind a busy predictor: how often to look whether a slot is free.
FILL_SLICE_S = 0.004
# With nothing in flight: the longest wait for a first message before the loop goes round.
IDLE_POLL_S = 0.1
MAX_REJOINS = 3  # fences within FENCE_WINDOW_S before the worker gives up
FENCE_WINDOW_S = 600.0
TP = tuple[str, int]


class Worker:
    """Consume → validate → tokenize → predict → produce → commit, for one group member."""

    def __init__(
        self,
        settings: Settings,
        worker_id: str = "worker-0",
        instance_id: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.instance_id = instance_id
        self.stop_event = asyncio.Event()
        self.tracker = OffsetTracker()
        self._metrics_port = settings.worker.metrics_port if metrics_port is None else metrics_port
        self._consumer: AsyncConsumer | None = None
        self._client: PredictorClient | None = None
        self._processor: BatchProcessor | None = None
        self._subscribed = False
        self._fatal: BaseException | None = None
        self.paused = False
        self.health: HealthServer | None = None
        self.outbox: TransactionalOutbox[Outgoing] | None = None
        self.book = PartitionBook(self.tracker, worker_id, settings.worker.crash_loop_threshold)
        self.progress = Progress(settings.worker.stall_timeout_s)
        self.batches = InFlight(self.tracker, self.book, self.stop_event, self._stop_fatally,
                                self._fenced, by_partition=self.exactly_once)
        self._fences: list[float] = []
        self._rejoin: KafkaError | None = None
        self._consumer_conf: dict[str, Any] = {}
        self._stuck = False
        self._cooperative = True
        self._commit_errors = 0
        self._commit_logged = 0.0

    @property
    def exactly_once(self) -> bool:
        return self.settings.worker.processing_guarantee == "exactly_once"

    @property
    def transactional_id(self) -> str:
        """``<group>-<worker id>``: stable per slot (``worker-<i>``, a StatefulSet pod name),
        so a restarted worker fences its predecessor and aborts what it left open."""
        return f"{self.settings.worker.group_id}-{self.worker_id}"

    @property
    def predictor_state(self) -> str:
        """``unknown``, ``ready``, ``not_ready`` or ``failing`` (see PredictorState)."""
        return self._client.state.value if self._client else "unknown"

    def stop(self) -> None:
        """Ask the worker to finish in-flight batches, commit and exit."""
        self.stop_event.set()

    def _stop_fatally(self, exc: BaseException) -> None:
        self._fatal = exc
        self.stop_event.set()

    def _fenced(self, err: KafkaError) -> None:
        """Static membership fenced: after a broker restart the coordinator can fence the
        very member that rejoins (confluent-kafka-go issue 494). Rejoin with a new consumer,
        a few times; a real twin with our ``group.instance.id`` keeps fencing us, and then
        the worker stops."""
        now = time.monotonic()
        self._fences = [t for t in self._fences if now - t < FENCE_WINDOW_S] + [now]
        if len(self._fences) > MAX_REJOINS:
            log.error("fenced %d times in %.0f s: another worker uses our group.instance.id",
                      len(self._fences), FENCE_WINDOW_S)
            self._stop_fatally(KafkaException(err))
        else:
            self._rejoin = err

    async def _rejoin_group(self) -> None:
        """Drop the fenced consumer and everything it owned; join again with a new one."""
        assert self._consumer is not None
        log.warning("%s fenced (%s); rejoining the group with a new consumer",
                    self.worker_id, self._rejoin)
        self._rejoin = None
        self.book.forget(set(self.book.assigned))
        await self._consumer.close(timeout_s=10.0)
        self._consumer = AsyncConsumer(self._consumer_conf)
        self._set_paused(False)
        await self._consumer.subscribe(
            [self.settings.topics.input], self._on_assign, self._on_revoke, self._on_lost
        )

    # -- rebalance callbacks: run on the consumer thread, inside consume() --------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.book.assign(consumer, partitions)
        # Assign here, then set the pause state explicitly: librdkafka keeps a partition's
        # paused flag across a lost assignment (e.g. a broker restart while the worker was
        # paused), and a partition assigned back paused would never be fetched again.
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if self.paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)
        log.info("%s assigned %s", self.worker_id, _fmt(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions if p.topic is not None}
        log.info("%s revoked %s", self.worker_id, _fmt(partitions))
        # Let in-flight batches of these partitions finish so their positions are committed
        # before the next owner starts; otherwise it would label those products again.
        drain_s = 0.0 if self.stop_event.is_set() else self.settings.worker.revoke_drain_timeout_s
        if not self.tracker.wait_finished(revoked, drain_s):
            log.warning("in-flight work of %s not finished; it may be redone", _fmt(partitions))
        try:
            self.book.commit(consumer, only=revoked, on_committed=self._advanced)
        except KafkaException as exc:
            log.warning("commit on revoke failed: %s", exc)
        self.book.forget(revoked)

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("%s lost %s (no commit)", self.worker_id, _fmt(partitions))
        self.book.forget({(p.topic, p.partition) for p in partitions if p.topic is not None})

    def _advanced(self, positions: dict[TP, int]) -> None:
        self.progress.advanced_at = time.monotonic()
        CONNECTION.ok()

    async def _commit(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer.raw
        try:
            await self._consumer.call(self.book.commit, consumer, None, self._advanced)
        except KafkaException as exc:
            if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].fatal():
                # e.g. the transactional producer was fenced by a newer worker instance
                log.error("fatal commit error, stopping: %s", exc)
                self._fatal = exc
                self.stop_event.set()
                return
            self._commit_failed(exc)
            return
        if self._commit_errors:
            log.warning("commits go through again after %d failed tries", self._commit_errors)
            self._commit_errors = 0

    def _commit_failed(self, exc: KafkaException) -> None:
        """Log the first failure, then a summary every 30 s (a commit is tried every tick)."""
        now = time.monotonic()
        self._commit_errors += 1
        if self._commit_errors == 1 or now - self._commit_logged >= 30.0:
            log.warning("commit failed %d time(s) so far (will retry): %s",
                        self._commit_errors, exc)
            self._commit_logged = now

    # -- probes ------------------------------------------------------------------------

    def _liveness(self) -> tuple[bool, dict[str, Any]]:
        p = self.progress
        loop_stalled, stalled = p.loop_stalled_s(), p.stalled_s()
        ok = loop_stalled < LOOP_STALL_S and not p.stuck() and self._fatal is None
        return ok, {
            "worker": self.worker_id,
            "loop_stalled_s": round(loop_stalled, 3),
            "progress_stalled_s": round(stalled, 3),
            "stall_timeout_s": p.stall_timeout_s,
            "stuck": p.stuck(),
        }

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        ok = self._subscribed and not self.stop_event.is_set() and self._fatal is None
        circuit = self._processor.circuit if self._processor else None
        return ok, {
            "worker": self.worker_id,
            "subscribed": self._subscribed,
            "assigned": sorted(f"{t}[{p}]" for t, p in self.book.assigned),
            "predictor": self.predictor_state,
            "predictor_fault": circuit.kind if circuit and circuit.is_open else None,
            "inflight_batches": self.batches.inflight,
            "paused": self.paused,
            "backlog": self.progress.backlog,
            "kafka": {None: "unknown", True: "up", False: "down"}[CONNECTION.up],
        }

    # -- main loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Run until :meth:`stop`; raises if a batch failed unexpectedly."""
        s = self.settings
        tokenizers = tokenizer_source(s)
        self.health = HealthServer(
            s.worker.metrics_host, self._metrics_port, self._liveness, self._readiness
        )
        await self.health.start()
        CONNECTION.on_change = lambda up: METRICS.kafka_state.state("up" if up else "down")
        METRICS.progress_stalled.set_function(lambda: float(self.progress.stuck()))
        record_limit = await asyncio.to_thread(max_record_bytes, s)
        conf = self._consumer_conf = consumer_config(s, self.instance_id)
        self._cooperative = "cooperative" in str(conf.get("partition.assignment.strategy", ""))
        self._consumer = AsyncConsumer(conf)
        producer: AsyncProducer | None = None
        if self.exactly_once:
            self.outbox = self.book.outbox = TransactionalOutbox(
                s,
                self.transactional_id,
                timeout_s=s.worker.transaction_timeout_s,
                on_committed=count_outputs,
            )
        else:
            producer = AsyncProducer(worker_producer_config(s))
        self._client = predictor_client(s)
        retry = retry_policy(s, self.stop_event)
        cache = result_cache(s)
        outputs = OutputBuilder(s.topics.output, s.topics.dead_letter, self.worker_id,
                                record_limit)
        try:
            if self.outbox is not None:  # fences a predecessor with the same transactional.id
                await asyncio.to_thread(self.outbox.init)
            async with self._client:
                self._processor = BatchProcessor(
                    s, producer, self._client, tokenizers, self.tracker, retry,
                    self.stop_event, outputs, outbox=self.outbox, cache=cache,
                )
                await self._consumer.subscribe(
                    [s.topics.input], self._on_assign, self._on_revoke, self._on_lost
                )
                self._subscribed = True
                log.info("%s consuming %s (group %s), records up to %d bytes",
                         self.worker_id, s.topics.input, s.worker.group_id, record_limit)
                await self._loop(self._processor)
                await self.batches.drain()
        finally:
            # Each step runs even if an earlier one fails (e.g. a fenced consumer).
            close_output = producer.close if producer is not None else self._close_outbox
            steps = [self._commit, close_output, self._consumer.close, self.health.stop]
            if self._processor is not None:
                steps.insert(0, self._processor.circuit.close)
            if cache is not None:
                steps.append(cache.close)
            for step in steps:
                try:
                    await step()
                except Exception:
                    log.exception("shutdown step %s failed", step.__qualname__)
        if self._fatal is not None:
            raise RuntimeError(
                f"{self.worker_id} stopped after an unexpected error"
            ) from self._fatal

    async def _next_batch(self, size: int, wait_s: float) -> list[Message]:
        """The next batch to dispatch ("fill while busy").

        While the predictor has a free slot (fewer than ``predictor_concurrency`` batches in
        flight), whatever has arrived goes at once: waiting to fill a batch would only add
        latency. Otherwise the batch fills until it holds ``size`` messages, a slot frees
        (checked every ``FILL_SLICE_S``) or ``wait_s`` has passed. So batches grow with the
        load by themselves: small ones at low load, as large as the predictor's pace allows
        in between (the fewest, most efficient calls), full ones from librdkafka's prefetch
        queue under a backlog, where full batches also pipeline (``max_inflight_batches``).

        A batch may take several ``consume`` calls, and a rebalance may be served in any of
        them: see :meth:`_still_ours`.
        """
        assert self._consumer is not None
        consumer, book = self._consumer, self.book
        slots = self.settings.worker.predictor_concurrency
        slices: list[tuple[list[Message], int]] = []
        if self.batches.inflight < slots:  # bounded, so the loop still commits and beats
            first = await consumer.consume(1, IDLE_POLL_S)
            if not first:
                return []
            slices.append((first, book.forgets))
            if size > 1:  # and what is already fetched
                slices.append((await consumer.consume(size - 1, 0), book.forgets))
            return self._still_ours(slices)
        deadline = time.monotonic() + wait_s
        got = 0
        while True:
            left = deadline - time.monotonic()
            more = await consumer.consume(size - got, max(min(FILL_SLICE_S, left), 0))
            slices.append((more, book.forgets))
            got += len(more)
            if got >= size or left <= FILL_SLICE_S or self.batches.inflight < slots:
                return self._still_ours(slices)

    def _still_ours(self, slices: list[tuple[list[Message], int]]) -> list[Message]:
        """The messages of ``slices`` (each with the book's ``forgets`` mark after the call
        that returned it) whose partition was not revoked or lost after they were consumed.
        Dropping those is safe: they were never tracked, so no commit passed them, and their
        partition's next owner (perhaps this worker again) consumes them from the committed
        offset. Dispatching them would track offsets of an assignment that is gone."""
        now = self.book.forgets
        out: list[Message] = []
        for messages, mark in slices:
            if mark == now:
                out += messages
                continue
            gone = self.book.stale(mark)
            kept = [m for m in messages if (m.topic(), m.partition()) not in gone]
            if len(kept) < len(messages):
                log.info("%d message(s) of partitions revoked meanwhile left to their next "
                         "owner", len(messages) - len(kept))
            out += kept
        return out

    async def _loop(self, processor: BatchProcessor) -> None:
        assert self._consumer is not None
        s = self.settings.worker
        wait_s = max(s.batch_wait_ms, 1) / 1000
        commit_every_s = s.commit_interval_ms / 1000
        last_commit = last_check = time.monotonic()
        full_since: float | None = None
        while not self.stop_event.is_set():
            now = self.progress.loop_heartbeat = time.monotonic()
            if self._rejoin is not None:
                await self._rejoin_group()
            held = processor.circuit.is_open  # a predictor fault: take no more work
            if self.batches.inflight < s.max_inflight_batches and not held:
                full_since = None
                if self.paused:
                    await self._consumer.resume_all()
                    self._set_paused(False)
                messages = await self._next_batch(processor.sizer.size, wait_s)
                if messages:
                    self.batches.dispatch(processor, messages)
            else:
                # At capacity: wait for a batch to finish. librdkafka stops fetching on its own
                # once its queue is full. Only when this lasts (a cold or failing predictor) are
                # the partitions paused, so consume() can serve rebalances and stay within
                # max.poll.interval.ms without taking more work. Pause/resume is kept rare on
                # purpose: it drops prefetched messages and is racy when done constantly.
                full_since = full_since or now
                await self.batches.wait_one(within_s=1.0, idle_s=min(wait_s * 10, 0.5))
                long_full = time.monotonic() - full_since >= s.pause_after_s
                if not self.paused and (held or long_full):
                    await self._consumer.pause_all()
                    self._set_paused(True)
                if self.paused:
                    messages = await self._consumer.consume(processor.sizer.size, 0)
                    if messages:  # fetched before the pause took effect
                        self.batches.dispatch(processor, messages)
            if time.monotonic() - last_commit >= commit_every_s:
                await self._commit()
                last_commit = time.monotonic()
            if time.monotonic() - last_check >= PROGRESS_EVERY_S:
                await self._check_progress(processor)
                last_check = time.monotonic()

    async def _check_progress(self, processor: BatchProcessor) -> None:
        """Refresh what the liveness probe judges (backlog, pending, predictor)."""
        assert self._consumer is not None
        p = self.progress
        p.backlog = await self._consumer.backlog()
        p.pending = self.tracker.pending_count()
        p.uncommitted = len(self.tracker.commit_positions())
        p.assigned = len(self.book.assigned)
        state = self._client.state if self._client else PredictorState.UNKNOWN
        p.predictor_waiting = processor.circuit.is_open or state in (
            PredictorState.NOT_READY, PredictorState.FAILING
        )
        p.quiet()
        stuck = p.stuck()
        if stuck != self._stuck:  # log the edges only
            log.error("%s %s: %s", self.worker_id,
                      "is stuck" if stuck else "is moving again",
                      f"no progress for {p.stalled_s():.0f} s with backlog {p.backlog}, "
                      f"{p.pending} in flight, predictor {state}")
            self._stuck = stuck

    async def _close_outbox(self) -> None:
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        METRICS.paused.set(int(paused))
        log.info("%s %s consumption", self.worker_id, "paused" if paused else "resumed")


def _fmt(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
