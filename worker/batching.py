"""Adaptive batch size: grow while the predictor keeps up, shrink when its latency rises.

One setting then suits a CPU predictor (small batches keep each request short) and a GPU
predictor (large batches keep it busy). The size moves between ``min_batch_size`` and
``batch_size`` (the maximum), multiplicatively, like TCP's congestion window but gentler:
a batch answered in under half the target latency, when it was full, grows the size by half;
one answered over the target shrinks it by 30%. Requests that failed are not measured.
"""

from __future__ import annotations

import logging
import threading

from worker.metrics import METRICS

log = logging.getLogger(__name__)

GROW = 1.5
SHRINK = 0.7


class BatchSizer:
    """The batch size to consume next; fed with each predictor call's rows and seconds."""

    def __init__(self, minimum: int, maximum: int, target_s: float, adaptive: bool = True) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= min_batch_size ({minimum}) <= batch_size ({maximum})")
        self.minimum, self.maximum, self.target_s = minimum, maximum, target_s
        self.adaptive = adaptive
        self._size = max(minimum, min(maximum, 64)) if adaptive else maximum
        self._lock = threading.Lock()
        METRICS.batch_size_target.set(self._size)

    @property
    def size(self) -> int:
        return self._size

    def observe(self, rows: int, seconds: float) -> int:
        """One answered predictor call of ``rows`` rows; returns the new size."""
        if not self.adaptive or rows <= 0:
            return self._size
        with self._lock:
            old = self._size
            if seconds > self.target_s:
                self._size = max(self.minimum, int(old * SHRINK))
            elif seconds < self.target_s / 2 and rows >= old:
                self._size = min(self.maximum, int(old * GROW) + 1)
            new = self._size
        if new != old:
            METRICS.batch_size_target.set(new)
            log.info("batch size %d -> %d (a batch of %d took %.3f s, target %.2f s)",
                     old, new, rows, seconds, self.target_s)
        return new
