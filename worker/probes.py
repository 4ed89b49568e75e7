"""Liveness and readiness of one worker, including "stuck": work waiting, nothing moving.

A worker is *stuck* when it owns partitions with work waiting (a backlog to consume,
messages in flight or finished but uncommitted) and the predictor is not the reason (it is
ready and the predictor circuit is closed), yet no commit has moved a position for
``stall_timeout_s``. Liveness then fails (Kubernetes restarts the pod; the supervisor
restarts the process) and ``catmatch_worker_progress_stalled`` is 1. Waiting for a cold or
faulty predictor is not stuck: that is what the worker is supposed to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# The event loop itself must come round at least this often.
LOOP_STALL_S = 60.0


@dataclass
class Progress:
    """What the event loop last saw; the probes read it from the health server."""

    stall_timeout_s: float
    loop_heartbeat: float = field(default_factory=time.monotonic)
    advanced_at: float = field(default_factory=time.monotonic)  # a commit moved a position
    backlog: int = 0
    pending: int = 0
    uncommitted: int = 0
    assigned: int = 0
    predictor_waiting: bool = False  # not ready, or a predictor fault holds the stream

    def work_waiting(self) -> bool:
        return self.assigned > 0 and (self.backlog + self.pending + self.uncommitted) > 0

    def stalled_s(self, now: float | None = None) -> float:
        """Seconds without progress while work is waiting for the worker (0.0 otherwise)."""
        now = time.monotonic() if now is None else now
        if not self.work_waiting() or self.predictor_waiting:
            return 0.0
        return max(now - self.advanced_at, 0.0)

    def stuck(self, now: float | None = None) -> bool:
        return self.stalled_s(now) >= self.stall_timeout_s

    def loop_stalled_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(now - self.loop_heartbeat, 0.0)

    def quiet(self, now: float | None = None) -> None:
        """Nothing to do counts as progress: the stall clock starts when work arrives."""
        if not self.work_waiting() or self.predictor_waiting:
            self.advanced_at = time.monotonic() if now is None else now
