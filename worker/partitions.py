"""The worker's partitions: what it owns, what it may commit, and crash records.

Everything here runs on the consumer thread (rebalance callbacks run inside ``consume``;
commits are sent through :meth:`transport.consumer.AsyncConsumer.call`), except the small
queries the event loop makes under the lock.

Commits carry a :class:`~worker.crashloop.CrashRecord` in the offset metadata while one is
active for the partition, so it survives a restart; it is dropped once the committed
position has moved past the failing range.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from transport.types import TP
from worker.crashloop import CrashRecord, after_failure
from worker.delivery import DeliveryStrategy
from worker.metrics import METRICS
from worker.offsets import OffsetTracker

log = logging.getLogger(__name__)

COMMITTED_TIMEOUT_S = 10.0


@dataclass(slots=True)
class Heal:
    """Permission to dead-letter crashing messages of one crash record: once."""

    reason: str
    left: int = 1

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        METRICS.crash_loops.inc()
        return True


class PartitionBook:
    """Owned partitions, their commits, and their crash records."""

    def __init__(
        self,
        tracker: OffsetTracker,
        delivery: DeliveryStrategy,
        worker_id: str,
        crash_loop_threshold: int,
    ) -> None:
        self.tracker = tracker
        self.delivery = delivery
        self.worker_id = worker_id
        self.threshold = crash_loop_threshold
        self._lock = threading.Lock()
        self.assigned: set[TP] = set()
        self._records: dict[TP, CrashRecord] = {}
        self._heals: dict[TP, Heal] = {}
        self._dirty: set[TP] = set()  # records to write with the next commit
        # Partitions revoked or lost, in order: forgets[i] is the i-th one (see stale()).
        self._forgets: list[TP] = []

    # -- rebalance callbacks (consumer thread) --------------------------------------------

    def assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        records = self._read_records(consumer, partitions)
        with self._lock:
            self.assigned |= tps
            for tp, record in records.items():
                self._records[tp] = record
                if record.count >= self.threshold:
                    self._heals[tp] = Heal(record.heal_reason())
                    log.warning("%s: crash loop on %s[%d]: %s; processing them one by one",
                                self.worker_id, tp[0], tp[1], record.heal_reason())

    def forget(self, tps: set[TP]) -> None:
        """Partitions revoked or lost: their state goes (the next owner reads the record),
        and so does anything the delivery strategy holds for them uncommitted (the next
        owner consumes those messages again)."""
        self.delivery.forget(tps, also=lambda: self.tracker.revoke(tps))
        with self._lock:
            self.assigned -= tps
            self._forgets.extend(sorted(tps))
            for tp in tps:
                self._records.pop(tp, None)
                self._heals.pop(tp, None)
                self._dirty.discard(tp)

    @property
    def forgets(self) -> int:
        """How many partitions have been revoked or lost so far (a mark for :meth:`stale`)."""
        return len(self._forgets)

    def stale(self, mark: int) -> set[TP]:
        """The partitions revoked or lost since ``forgets`` was ``mark``. Messages consumed
        before that, from these partitions, belong to their next owner (or to a later
        assignment of ours, which consumes them again from the committed offset)."""
        with self._lock:
            return set(self._forgets[mark:])

    def _read_records(
        self, consumer: Consumer, partitions: list[TopicPartition]
    ) -> dict[TP, CrashRecord]:
        try:
            committed = consumer.committed(partitions, timeout=COMMITTED_TIMEOUT_S)
        except KafkaException as exc:
            log.warning("cannot read committed offsets (crash records unknown): %s", exc)
            return {}
        out = {}
        for tp in committed:
            record = CrashRecord.from_metadata(tp.metadata)
            if record is not None and tp.topic is not None and tp.partition is not None:
                out[(tp.topic, tp.partition)] = record
        return out

    # -- crash loops (event loop) ---------------------------------------------------------

    @property
    def any_crash_loop(self) -> bool:
        """Whether some partition has a crash record (when not, :meth:`heal_for` is ``None``
        for every message, and the hot path skips asking)."""
        return bool(self._records)

    def heal_for(self, tp: TP, offset: int) -> Heal | None:
        """The heal permit when ``offset`` lies in a crash loop of ``tp``."""
        with self._lock:
            record = self._records.get(tp)
            if record is None or not record.covers(offset):
                return None
            return self._heals.get(tp)

    def crashed(self, tp: TP, first: int, last: int, error: str) -> None:
        """A batch of ``tp`` failed unexpectedly: count it (written with the next commit)."""
        with self._lock:
            record = after_failure(self._records.get(tp), first, last, error)
            self._records[tp] = record
            self._dirty.add(tp)
        log.error("%s: %s[%d] offsets %d..%d failed (%d time(s) on this range)",
                  self.worker_id, tp[0], tp[1], record.first, record.last, record.count)

    # -- commits (consumer thread) --------------------------------------------------------

    def commit(
        self,
        consumer: Consumer,
        only: set[TP] | None = None,
        on_committed: Callable[[dict[TP, int]], None] | None = None,
    ) -> dict[TP, int]:
        """Commit finished positions of owned partitions (with crash records) through the
        delivery strategy. Returns what the broker accepted: a partition whose commit was
        refused (or a whole aborted transaction) is offered again next time."""
        with self._lock:
            owned = self.assigned if only is None else (self.assigned & only)
            dirty = self._dirty & owned
        positions = self.tracker.commit_positions(only=owned)
        for tp in dirty - positions.keys():  # a crash record must be written even so
            pos = self.tracker.safe_position(tp)
            if pos is not None:
                positions[tp] = pos
        if not positions:
            return {}
        offsets = [self._offset(tp, pos) for tp, pos in positions.items()]
        positions = self.delivery.commit(consumer, offsets)
        if not positions:
            return {}
        self.tracker.mark_committed(positions)
        with self._lock:
            self._dirty -= positions.keys()
            for tp, pos in positions.items():
                record = self._records.get(tp)
                if record is not None and pos > record.last:  # healed: drop it
                    del self._records[tp]
                    self._heals.pop(tp, None)
        METRICS.commits.inc()
        for (topic, part), pos in positions.items():
            METRICS.committed_offset.labels(topic=topic, partition=str(part)).set(pos)
        if on_committed is not None:
            on_committed(positions)
        return positions

    def _offset(self, tp: TP, position: int) -> TopicPartition:
        with self._lock:
            record = self._records.get(tp)
        metadata = record.to_metadata() if record is not None and position <= record.last else ""
        return TopicPartition(tp[0], tp[1], position, metadata=metadata)
