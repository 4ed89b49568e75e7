"""What the pod drills measure, from label arrival times alone (pure: unit-tested).

A drill produces products at a steady rate, injects its fault at ``fault_at`` and collects
every label with a ``read_committed`` reader (tests/cluster/hostkafka.py ``stream``), which
notes when each label arrived and from which input partition its product came. The fault's
cost to a partition is the longest pause between two of its labels that ends after the
fault; the drill recovers when every partition is past its pause.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stall:
    """The longest pause of one partition's labels that ends after the fault."""

    partition: int
    started_at: float  # the last label before the pause (or the fault, if later)
    ended_at: float  # the first label after it

    @property
    def seconds(self) -> float:
        return round(self.ended_at - self.started_at, 2)


def stalls(arrivals: Iterable[tuple[float, int]], fault_at: float) -> list[Stall]:
    """Per partition, the longest pause between labels ending after ``fault_at``.

    The first pause is counted from the last label before the fault (a partition that was
    idle then is counted from the fault). A partition with no label after the fault has no
    stall here (the test's count of lost products says what happened to it).
    """
    by_partition: dict[int, list[float]] = defaultdict(list)
    for at, partition in arrivals:
        by_partition[partition].append(at)
    out = []
    for partition, times in sorted(by_partition.items()):
        times.sort()
        before = [t for t in times if t <= fault_at]
        after = [t for t in times if t > fault_at]
        if not after:
            continue
        edges = [max(before[-1], fault_at) if before else fault_at, *after]
        gaps = [(b - a, a, b) for a, b in zip(edges, edges[1:], strict=False)]
        _, start, end = max(gaps, key=lambda g: (g[0], -g[1]))  # the first of equal pauses
        out.append(Stall(partition, start, end))
    return out


def recovery(arrivals: Iterable[tuple[float, int]], fault_at: float) -> dict[str, object]:
    """Seconds from the fault until every partition labels again after its longest pause
    (``recovered_s``), and each partition's pause (``stall_s``)."""
    found = stalls(arrivals, fault_at)
    if not found:
        return {"recovered_s": None, "stall_s": {}}
    return {
        "recovered_s": round(max(s.ended_at for s in found) - fault_at, 2),
        "stall_s": {str(s.partition): s.seconds for s in found},
    }
