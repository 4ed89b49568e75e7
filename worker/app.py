"""One worker: consume → validate → tokenize → predict → produce → commit, for one member.

``Worker.run`` builds the collaborators once and its loop only delegates to them:

- :class:`~worker.membership.Membership`: the subscription, rebalances, pause, fencing;
- :class:`~worker.intake.Intake`: the next batch, or holding back at capacity;
- :class:`~worker.inflight.InFlight`: the running batches, each a
  :class:`~worker.pipeline.BatchProcessor` call;
- :class:`~worker.committer.Committer`: the commit tick, through the
  :class:`~worker.partitions.PartitionBook` and the processing guarantee's
  :class:`~worker.delivery.DeliveryStrategy`, chosen once here;
- :class:`~worker.probes.WorkerProbes`: liveness, readiness and "stuck".

A batch that fails unexpectedly stops the worker, after recording the failure with the
partition's committed offset (:mod:`worker.crashloop`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from confluent_kafka import Message

from core.settings import Settings
from transport.access import ACCESS, KINDS
from transport.configuration import admin_config, consumer_config
from transport.consumer import AsyncConsumer
from transport.logs import CONNECTION
from transport.types import TP
from worker.classify import Classifier
from worker.committer import Committer
from worker.delivery import choose_delivery
from worker.health import HealthServer
from worker.inflight import InFlight
from worker.intake import Intake
from worker.lifecycle import Stopping
from worker.membership import Membership
from worker.metrics import METRICS
from worker.offsets import OffsetTracker
from worker.outputs import OutputBuilder
from worker.partitions import PartitionBook
from worker.pipeline import BatchProcessor
from worker.probes import AccessProbe, Progress, WorkerProbes
from worker.wiring import (
    max_record_bytes,
    predictor_client,
    result_cache,
    retry_policy,
    tokenizer_source,
)

log = logging.getLogger(__name__)


class Worker:
    """One consumer-group member and everything it owns."""

    def __init__(
        self,
        settings: Settings,
        worker_id: str = "worker-0",
        instance_id: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        w = settings.worker
        self.settings = settings
        self.worker_id = worker_id
        self.instance_id = instance_id
        self.metrics_port = w.metrics_port if metrics_port is None else metrics_port
        self.stopping = Stopping()
        self.tracker = OffsetTracker()
        self.delivery = choose_delivery(settings, worker_id, self.tracker, self.stopping.event)
        self.book = PartitionBook(self.tracker, self.delivery, worker_id, w.crash_loop_threshold)
        self.progress = Progress(w.stall_timeout_s)
        self.health: HealthServer | None = None
        self.probes: WorkerProbes | None = None  # once run() has built the collaborators
        self.processor: BatchProcessor | None = None

    def stop(self) -> None:
        """Ask the worker to finish in-flight batches, commit and exit."""
        self.stopping.request()

    async def run(self) -> None:
        """Run until :meth:`stop`; raises if the worker stopped on an error."""
        s, stopping = self.settings, self.stopping
        tokenizers = tokenizer_source(s)
        record_limit = await asyncio.to_thread(max_record_bytes, s)
        consumer = AsyncConsumer(consumer_config(s, self.instance_id))
        client = predictor_client(s)
        cache = result_cache(s)
        classifier = Classifier(s, client, tokenizers, retry_policy(s, stopping.event),
                                stopping.event)
        outputs = OutputBuilder(s.topics.output, s.topics.dead_letter, self.worker_id,
                                record_limit, s.worker.min_score)
        self.processor = BatchProcessor(s, classifier, self.delivery, self.tracker, outputs,
                                        cache)
        membership = Membership(
            consumer, self.book, s.worker, s.topics.input,
            stopping=lambda: stopping.requested, on_fatal=stopping.fail,
            on_committed=self.progress.advanced,
        )
        batches = InFlight(self.tracker, self.book, stopping.event, stopping.fail,
                           membership.fenced, by_partition=self.delivery.by_partition,
                           consumer_conf=consumer.conf)
        intake = Intake(consumer, self.book, batches, membership, classifier.circuit,
                        classifier.sizer, s.worker)
        committer = Committer(consumer, self.book, s.worker.commit_interval_ms / 1000,
                              on_committed=self.progress.advanced, on_fatal=stopping.fail)
        self.probes = probes = WorkerProbes(
            self.worker_id, self.progress, stopping, membership, self.book, self.tracker,
            batches, consumer, client, classifier.circuit,
            AccessProbe(admin_config(s.kafka), s.topics.input),
        )
        self.health = HealthServer(s.worker.metrics_host, self.metrics_port,
                                   probes.liveness, probes.readiness)
        CONNECTION.on_change = lambda up: METRICS.kafka_state.state("up" if up else "down")
        for kind in KINDS:  # exported at 0 from the start
            METRICS.kafka_auth_errors.labels(kind=kind)
        ACCESS.on_denied = lambda d: METRICS.kafka_auth_errors.labels(kind=d.kind).inc()
        ACCESS.on_change = lambda refused: METRICS.kafka_refused.set(int(refused))
        METRICS.progress_stalled.set_function(lambda: float(self.progress.stuck()))
        closing: list[Callable[[], Awaitable[None]]] = [
            classifier.circuit.close, committer.commit, self.delivery.close, consumer.close,
            self.health.stop,
        ]
        if cache is not None:
            closing.append(cache.close)
        try:
            await self.health.start()
            await self.delivery.start()
            async with client:
                await membership.join()
                log.info("%s consuming %s (group %s), records up to %d bytes",
                         self.worker_id, s.topics.input, s.worker.group_id, record_limit)
                await self._loop(membership, intake, batches, committer, probes)
                await batches.drain()
        finally:
            await _run_each(closing)
        if stopping.error is not None:
            raise RuntimeError(
                f"{self.worker_id} stopped after an unexpected error"
            ) from stopping.error

    async def _loop(
        self,
        membership: Membership,
        intake: Intake,
        batches: InFlight,
        committer: Committer,
        probes: WorkerProbes,
    ) -> None:
        assert self.processor is not None
        while not self.stopping.requested:
            await membership.rejoin_if_fenced()
            messages: list[Message] = await intake.take()
            if messages:
                batches.dispatch(self.processor, messages)
            await committer.tick()
            await probes.tick()

    @property
    def assigned(self) -> set[TP]:
        """The partitions this worker owns now."""
        return set(self.book.assigned)


async def _run_each(steps: list[Callable[[], Awaitable[None]]]) -> None:
    """Shutdown: each step runs even if an earlier one fails (e.g. a fenced consumer)."""
    for step in steps:
        try:
            await step()
        except Exception:
            log.exception("shutdown step %s failed", getattr(step, "__qualname__", step))
