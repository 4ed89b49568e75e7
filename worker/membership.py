"""The worker's place in its consumer group: subscription, rebalances, pause state, fencing.

Rebalance callbacks run on the consumer thread, inside ``consume``. On revoke, in-flight
batches of the partitions get ``revoke_drain_timeout_s`` to finish so their positions are
committed before the next owner starts; a lost partition is forgotten without a commit.

Pause state is set explicitly on every assignment: librdkafka keeps a partition's paused
flag across a lost assignment (e.g. a broker restart while the worker was paused), and a
partition assigned back paused would never be fetched again.

Fencing: after a broker restart the coordinator can fence the very static member that
rejoins (confluent-kafka-go issue 494). The worker then rejoins with a new consumer, a few
times; a real twin with our ``group.instance.id`` keeps fencing us, and the worker stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from core.settings import WorkerSettings
from transport.consumer import AsyncConsumer
from transport.types import TP
from worker.metrics import METRICS
from worker.partitions import PartitionBook

log = logging.getLogger(__name__)

MAX_REJOINS = 3  # fences within FENCE_WINDOW_S before the worker gives up
FENCE_WINDOW_S = 600.0


class Membership:
    """Joins the group and keeps the worker's state in step with its assignment."""

    def __init__(
        self,
        consumer: AsyncConsumer,
        book: PartitionBook,
        settings: WorkerSettings,
        topic: str,
        *,
        stopping: Callable[[], bool],
        on_fatal: Callable[[BaseException], None],
        on_committed: Callable[[dict[TP, int]], None],
    ) -> None:
        self._consumer = consumer
        self._book = book
        self._drain_s = settings.revoke_drain_timeout_s
        self._topic = topic
        self._worker_id = book.worker_id
        self._stopping = stopping
        self._on_fatal = on_fatal
        self._on_committed = on_committed
        strategy = str(consumer.conf.get("partition.assignment.strategy", ""))
        self._cooperative = "cooperative" in strategy
        self._fences: list[float] = []
        self._rejoin: KafkaError | None = None
        self.subscribed = False
        self.paused = False

    async def join(self) -> None:
        await self._consumer.subscribe(
            [self._topic], self._on_assign, self._on_revoke, self._on_lost
        )
        self.subscribed = True

    # -- fencing -------------------------------------------------------------------------

    def fenced(self, err: KafkaError) -> None:
        """A static-membership fence was consumed: rejoin next round, or stop if it keeps
        happening (another worker uses our ``group.instance.id``)."""
        now = time.monotonic()
        self._fences = [t for t in self._fences if now - t < FENCE_WINDOW_S] + [now]
        if len(self._fences) > MAX_REJOINS:
            log.error("fenced %d times in %.0f s: another worker uses our group.instance.id",
                      len(self._fences), FENCE_WINDOW_S)
            self._on_fatal(KafkaException(err))
        else:
            self._rejoin = err

    async def rejoin_if_fenced(self) -> None:
        """Drop the fenced consumer and everything it owned; join again with a new one."""
        if self._rejoin is None:
            return
        log.warning("%s fenced (%s); rejoining the group with a new consumer",
                    self._worker_id, self._rejoin)
        self._rejoin = None
        self._book.forget(set(self._book.assigned))
        await self._consumer.reopen()
        self._set_paused(False)
        await self.join()

    # -- pausing -------------------------------------------------------------------------

    async def pause(self) -> None:
        await self._consumer.pause_all()
        self._set_paused(True)

    async def resume(self) -> None:
        await self._consumer.resume_all()
        self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        METRICS.paused.set(int(paused))
        log.info("%s %s consumption", self._worker_id, "paused" if paused else "resumed")

    # -- rebalance callbacks: on the consumer thread, inside consume() ----------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._book.assign(consumer, partitions)
        if self._cooperative:
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if self.paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)
        log.info("%s assigned %s", self._worker_id, describe(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        log.info("%s revoked %s", self._worker_id, describe(partitions))
        drain_s = 0.0 if self._stopping() else self._drain_s
        if not self._book.tracker.wait_finished(revoked, drain_s):
            log.warning("in-flight work of %s not finished; it may be redone",
                        describe(partitions))
        try:
            self._book.commit(consumer, only=revoked, on_committed=self._on_committed)
        except KafkaException as exc:
            log.warning("commit on revoke failed: %s", exc)
        self._book.forget(revoked)

    def _on_lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("%s lost %s (no commit)", self._worker_id, describe(partitions))
        self._book.forget({(p.topic, p.partition) for p in partitions})


def describe(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing"
