"""Which offsets are safe to commit.

Messages of one partition are consumed in offset order but their batches may finish out of
order (several batches are in flight). A partition's commit position may only move past an
offset once that message's result or dead letter has been acknowledged by the broker, so
the position is the first offset that is still pending.

Each tracked message gets its own :class:`Ticket`. A batch marks its own tickets done, so a
batch that finishes after its partition was revoked (and perhaps assigned back) cannot
move the position of the new assignment.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from transport.types import TP


@dataclass(eq=False, slots=True)
class Ticket:
    """One consumed message whose outcome is not yet durable."""

    topic: str
    partition: int
    offset: int
    done: bool = False


@dataclass(slots=True)
class _PartitionState:
    pending: deque[Ticket] = field(default_factory=deque)
    position: int | None = None  # next offset to consume once everything before is done
    committed: int | None = None  # last position handed out for commit


class OffsetTracker:
    """Per-partition low-watermark of finished work. Thread-safe.

    The consumer thread calls :meth:`revoke` from rebalance callbacks while the event
    loop tracks and finishes messages, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished = threading.Condition(self._lock)
        self._parts: dict[TP, _PartitionState] = {}

    def track_many(self, positions: Iterable[tuple[str, int, int]]) -> list[Ticket]:
        """Register consumed messages, in order, under one lock; returns the tickets to mark
        when their outputs are durable."""
        tickets = [Ticket(*p) for p in positions]
        with self._lock:
            parts = self._parts
            for ticket in tickets:
                tp = (ticket.topic, ticket.partition)
                state = parts.get(tp)
                if state is None:
                    state = parts[tp] = _PartitionState()
                state.pending.append(ticket)
        return tickets

    def done(self, tickets: Iterable[Ticket]) -> None:
        """Mark messages as finished (their output is acknowledged by the broker)."""
        with self._lock:
            touched: set[TP] = set()
            for ticket in tickets:
                ticket.done = True
                touched.add((ticket.topic, ticket.partition))
            for tp in touched:
                state = self._parts.get(tp)
                if state is None:
                    continue  # revoked meanwhile: nothing to advance
                while state.pending and state.pending[0].done:
                    state.position = state.pending.popleft().offset + 1
            self._finished.notify_all()

    def wait_finished(self, partitions: Iterable[TP], timeout_s: float) -> bool:
        """Block until no message of ``partitions`` is pending; ``False`` on timeout.

        Called from the revoke callback so in-flight work of a partition finishes (and is
        committed) before another consumer takes the partition over.
        """
        wanted = set(partitions)

        def idle() -> bool:
            return not any(self._parts[tp].pending for tp in wanted if tp in self._parts)

        with self._lock:
            return self._finished.wait_for(idle, timeout=timeout_s)

    def commit_positions(
        self, only: Iterable[TP] | None = None
    ) -> dict[TP, int]:
        """Positions that advanced since the last call (and are therefore worth committing)."""
        wanted = None if only is None else set(only)
        out: dict[TP, int] = {}
        with self._lock:
            for tp, state in self._parts.items():
                if wanted is not None and tp not in wanted:
                    continue
                if state.position is not None and state.position != state.committed:
                    out[tp] = state.position
        return out

    def current(self, tickets: Iterable[Ticket]) -> bool:
        """Whether these tickets still belong to the current assignment of their partitions
        (not revoked or lost since they were tracked)."""
        with self._lock:
            for ticket in tickets:
                state = self._parts.get((ticket.topic, ticket.partition))
                if state is None or not any(t is ticket for t in state.pending):
                    return False
            return True

    def safe_position(self, tp: TP) -> int | None:
        """The position it is safe to commit for ``tp`` now: the finished position, else the
        first offset still pending, else ``None`` (nothing known)."""
        with self._lock:
            state = self._parts.get(tp)
            if state is None:
                return None
            if state.position is not None:
                return state.position
            return state.pending[0].offset if state.pending else None

    def mark_committed(self, positions: dict[TP, int]) -> None:
        """Record positions the broker accepted."""
        with self._lock:
            for tp, pos in positions.items():
                state = self._parts.get(tp)
                if state is not None and (state.committed is None or pos > state.committed):
                    state.committed = pos

    def revoke(self, partitions: Iterable[TP]) -> None:
        """Forget partitions this consumer no longer owns."""
        with self._lock:
            for tp in partitions:
                self._parts.pop(tp, None)

    def pending_count(self) -> int:
        """Messages consumed but not yet finished, over all partitions."""
        with self._lock:
            return sum(sum(1 for t in s.pending if not t.done) for s in self._parts.values())
