"""One worker: an asyncio loop that consumes batches and keeps a few of them in flight.

Offsets are committed only up to the first message whose output is not yet acknowledged
(:mod:`worker.offsets`). When the in-flight limit is reached the assigned partitions are
paused, so ``consume`` keeps being called (group membership, rebalances) without
fetching more than the worker can handle. With ``processing_guarantee: exactly_once`` the
commit is a Kafka transaction holding the outputs and the offsets
(:mod:`worker.transactions`), and every batch holds one partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from core.settings import Settings
from transport.configuration import consumer_config, worker_producer_config
from transport.consumer import AsyncConsumer, position
from transport.producer import AsyncProducer
from worker.health import HealthServer
from worker.metrics import METRICS
from worker.offsets import OffsetTracker
from worker.pipeline import BatchAbandoned, BatchProcessor, Outgoing, count_output
from worker.predictor_client import PredictorClient, PredictorUnavailable
from worker.retry import RetryPolicy
from worker.tokenizer_source import TokenizerSource
from worker.transactions import TransactionAborted, TransactionalOutbox

log = logging.getLogger(__name__)

LIVENESS_STALL_S = 60.0


def tokenizer_source(settings: Settings) -> TokenizerSource:
    """The model store's tokenizers when ``worker.model_ref`` is set, else a fixed
    tokenizer.json, or none at all (``worker.input_mode: text``)."""
    w = settings.worker
    if w.model_ref:
        return TokenizerSource(
            w.max_length,
            store_uri=settings.models.store_uri,
            model_name=settings.models.name,
            ref=w.model_ref,
        )
    if w.input_mode == "text":
        return TokenizerSource(w.max_length, text=True)
    return TokenizerSource(w.max_length, path=w.tokenizer_path)


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
        self._tasks: set[asyncio.Task[None]] = set()
        self._consumer: AsyncConsumer | None = None
        self._client: PredictorClient | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._subscribed = False
        self._heartbeat = time.monotonic()
        self._fatal: BaseException | None = None
        self.paused = False
        self.health: HealthServer | None = None
        self.outbox: TransactionalOutbox[Outgoing] | None = None

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

    # -- rebalance callbacks: run on the consumer thread, inside consume() --------------

    def _on_assign(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned |= {(p.topic, p.partition) for p in partitions}
        log.info("%s assigned %s", self.worker_id, _fmt(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        log.info("%s revoked %s", self.worker_id, _fmt(partitions))
        # Let in-flight batches of these partitions finish so their positions are committed
        # before the next owner starts; otherwise it would label those products again.
        drain_s = 0.0 if self.stop_event.is_set() else self.settings.worker.revoke_drain_timeout_s
        if not self.tracker.wait_finished(revoked, drain_s):
            log.warning("in-flight work of %s not finished; it may be redone", _fmt(partitions))
        try:
            self._commit_now(consumer, only=revoked)
        except KafkaException as exc:
            log.warning("commit on revoke failed: %s", exc)
        self.tracker.revoke(revoked)
        if self.outbox is not None:  # not committed: the next owner consumes them again
            self.outbox.drop(revoked)
        self._assigned -= revoked

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        log.warning("%s lost %s (no commit)", self.worker_id, _fmt(partitions))
        self.tracker.revoke(lost)
        if self.outbox is not None:
            self.outbox.drop(lost)
        self._assigned -= lost

    def _commit_now(self, consumer: Consumer, only: set[tuple[str, int]] | None = None) -> None:
        """Commit finished positions of owned partitions. Consumer thread only."""
        owned = self._assigned if only is None else (self._assigned & only)
        positions = self.tracker.commit_positions(only=owned)
        if not positions:
            return
        if self.outbox is not None:
            try:  # the outputs below these positions and the positions, in one transaction
                self.outbox.commit(consumer, positions)
            except TransactionAborted:
                return  # nothing committed; the same positions are offered next time
        else:
            consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()],
                asynchronous=False,
            )
        self.tracker.mark_committed(positions)
        METRICS.commits.inc()
        for (topic, part), pos in positions.items():
            METRICS.committed_offset.labels(topic=topic, partition=str(part)).set(pos)

    async def _commit(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer.raw
        try:
            await self._consumer.call(self._commit_now, consumer)
        except KafkaException as exc:
            if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].fatal():
                # e.g. the transactional producer was fenced by a newer worker instance
                log.error("fatal commit error, stopping: %s", exc)
                self._fatal = exc
                self.stop_event.set()
                return
            log.warning("commit failed (will retry): %s", exc)

    # -- probes ------------------------------------------------------------------------

    def _liveness(self) -> tuple[bool, dict[str, Any]]:
        stalled = time.monotonic() - self._heartbeat
        ok = stalled < LIVENESS_STALL_S and self._fatal is None
        return ok, {"worker": self.worker_id, "loop_stalled_s": round(stalled, 3)}

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        ok = self._subscribed and not self.stop_event.is_set() and self._fatal is None
        return ok, {
            "worker": self.worker_id,
            "subscribed": self._subscribed,
            "assigned": sorted(f"{t}[{p}]" for t, p in self._assigned),
            "predictor": self.predictor_state,
            "inflight_batches": len(self._tasks),
            "paused": self.paused,
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
        self._consumer = AsyncConsumer(consumer_config(s, self.instance_id))
        producer: AsyncProducer | None = None
        if self.exactly_once:
            self.outbox = TransactionalOutbox(
                s,
                self.transactional_id,
                timeout_s=s.worker.transaction_timeout_s,
                on_committed=count_output,
            )
        else:
            producer = AsyncProducer(worker_producer_config(s))
        p = s.predictor
        self._client = PredictorClient(
            p.url,
            p.model_name,
            timeout_s=p.timeout_s,
            connect_timeout_s=p.connect_timeout_s,
            host_header=p.host_header,
            token=p.token.get_secret_value() if p.token else None,
            max_connections=p.max_connections,
        )
        retry = RetryPolicy(
            self.stop_event, p.backoff_initial_s, p.backoff_max_s, p.server_error_attempts
        )
        try:
            if self.outbox is not None:  # fences a predecessor with the same transactional.id
                await asyncio.to_thread(self.outbox.init)
            async with self._client:
                processor = BatchProcessor(
                    s,
                    self.worker_id,
                    producer,
                    self._client,
                    tokenizers,
                    self.tracker,
                    retry,
                    self.stop_event,
                    outbox=self.outbox,
                )
                await self._consumer.subscribe(
                    [s.topics.input], self._on_assign, self._on_revoke, self._on_lost
                )
                self._subscribed = True
                log.info(
                    "%s consuming %s (group %s)", self.worker_id, s.topics.input, s.worker.group_id
                )
                await self._loop(processor)
                await self._drain()
        finally:
            # Each step runs even if an earlier one fails (e.g. a fenced consumer).
            close_output = producer.close if producer is not None else self._close_outbox
            for step in (self._commit, close_output, self._consumer.close, self.health.stop):
                try:
                    await step()
                except Exception:
                    log.exception("shutdown step %s failed", step.__qualname__)
        if self._fatal is not None:
            raise RuntimeError(
                f"{self.worker_id} stopped after an unexpected error"
            ) from self._fatal

    async def _loop(self, processor: BatchProcessor) -> None:
        assert self._consumer is not None
        s = self.settings.worker
        wait_s = max(s.batch_wait_ms, 1) / 1000
        commit_every_s = s.commit_interval_ms / 1000
        last_commit = time.monotonic()
        full_since: float | None = None
        while not self.stop_event.is_set():
            now = self._heartbeat = time.monotonic()
            if len(self._tasks) < s.max_inflight_batches:
                full_since = None
                if self.paused:
                    await self._consumer.resume_all()
                    self._set_paused(False)
                messages = await self._consumer.consume(s.batch_size, wait_s)
                if messages:
                    self._dispatch(processor, messages)
            else:
                # At capacity: wait for a batch to finish. librdkafka stops fetching on its own
                # once its queue is full. Only when this lasts (a cold or failing predictor) are
                # the partitions paused, so consume() can serve rebalances and stay within
                # max.poll.interval.ms without taking more work. Pause/resume is kept rare on
                # purpose: it drops prefetched messages and is racy when done constantly.
                full_since = full_since or now
                await asyncio.wait(self._tasks, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if not self.paused and time.monotonic() - full_since >= s.pause_after_s:
                    await self._consumer.pause_all()
                    self._set_paused(True)
                if self.paused:
                    messages = await self._consumer.consume(s.batch_size, 0)
                    if messages:  # fetched before the pause took effect
                        self._dispatch(processor, messages)
            if time.monotonic() - last_commit >= commit_every_s:
                await self._commit()
                last_commit = time.monotonic()

    async def _close_outbox(self) -> None:
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        METRICS.paused.set(int(paused))
        log.info("%s %s consumption", self.worker_id, "paused" if paused else "resumed")

    def _dispatch(self, processor: BatchProcessor, messages: list[Message]) -> None:
        batch: list[Message] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                METRICS.kafka_errors.inc()
                if err.fatal() or err.code() == KafkaError._FATAL:
                    # e.g. FENCED_INSTANCE_ID: another worker uses our group.instance.id.
                    log.error("fatal consumer error, stopping: %s", err)
                    self._fatal = KafkaException(err)
                    self.stop_event.set()
                    return
                log.warning("consume error: %s", err)
                continue
            batch.append(msg)
        if not batch:
            return
        METRICS.consumed.inc(len(batch))
        groups = [batch]
        if self.exactly_once:  # one partition per batch, so the outbox can drop one partition
            by_partition: dict[tuple[str, int], list[Message]] = {}
            for msg in batch:
                topic, partition, _ = position(msg)
                by_partition.setdefault((topic, partition), []).append(msg)
            groups = list(by_partition.values())
        for group in groups:
            METRICS.batch_size.observe(len(group))
            tickets = [self.tracker.track(*position(m)) for m in group]
            task = asyncio.create_task(processor.process(group, tickets))
            self._tasks.add(task)
            task.add_done_callback(self._batch_done)
        METRICS.inflight_batches.set(len(self._tasks))

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        METRICS.inflight_batches.set(len(self._tasks))
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if isinstance(exc, BatchAbandoned | PredictorUnavailable) and self.stop_event.is_set():
            log.info("batch left uncommitted at shutdown: %s", exc)
            return
        # A bug, not bad input (bad input is dead-lettered). Stop; the supervisor restarts us
        # and the batch is consumed again from the last committed offset.
        log.error("batch failed unexpectedly; stopping worker", exc_info=exc)
        self._fatal = exc
        self.stop_event.set()

    async def _drain(self, timeout_s: float = 30.0) -> None:
        if not self._tasks:
            return
        log.info("%s waiting for %d in-flight batches", self.worker_id, len(self._tasks))
        done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


def _fmt(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
