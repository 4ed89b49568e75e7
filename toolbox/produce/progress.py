"""A one-line progress display on stderr, without extra dependencies.

Redraws with ``\\r`` at most every ``interval`` seconds, only when enabled (a TTY and not
``--quiet``); otherwise it prints nothing and the caller prints a final line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

BAR_WIDTH = 24


def format_progress(done: int, failed: int, rate: float, total: int | None) -> str:
    """``[#####-----]  42% 8400/20000 delivered, 0 failed, 9,812 msg/s`` (no bar without total)."""
    stats = f"{done:,} delivered, {failed:,} failed, {rate:,.0f} msg/s"
    if not total:
        return stats
    fraction = min(1.0, (done + failed) / total)
    filled = int(round(fraction * BAR_WIDTH))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    return f"[{bar}] {fraction:4.0%} {stats} of {total:,}"


@dataclass(kw_only=True)
class ProgressLine:
    """Redraws one status line on a terminal stream (stderr by default); ``enabled`` defaults
    to whether the stream is a terminal."""

    total: int | None = None
    enabled: bool | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    interval: float = 0.2
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=float("-inf"), init=False)
    _width: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.enabled is None:
            self.enabled = self.stream.isatty()

    def update(self, done: int, failed: int, rate: float, *, force: bool = False) -> None:
        """Redraw if enabled and at least ``interval`` seconds passed (or ``force``)."""
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = format_progress(done, failed, rate, self.total)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the line so the final summary starts on a clean line."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
