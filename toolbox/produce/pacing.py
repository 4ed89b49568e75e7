"""Token-bucket pacing for ``catmatch produce --rate``.

The bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second. Taking a
token when none is left puts the bucket in debt and returns how long the caller must wait,
so callers never busy-loop and the long-run rate is exactly ``rate``. The clock is
injectable so the arithmetic can be tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Paces events to ``rate`` per second with bursts of at most ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            rate: tokens per second, > 0.
            burst: bucket size; default 1/20 s worth of tokens, at least 1.
            clock: monotonic seconds (a fake one in tests).
        """
        if rate <= 0:
            raise ValueError("rate must be > 0 (no pacing: do not use a bucket)")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 20.0)
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while in debt)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens; returns the seconds to wait before acting (0.0 if none)."""
        self._refill()
        self._tokens -= n
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate
