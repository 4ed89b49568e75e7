"""The predictor-failure circuit: a predictor fault stops the stream, it never turns products
into dead letters.

A product is dead-lettered as ``predictor_rejected`` only when it fails alone while the
predictor answers a known-good request (the *canary*): that product is poison. When the
canary fails too, or the predictor answers 401/403, the fault is the predictor's (an expired
token, an Istio policy, CUDA out of memory on every request). Then the circuit opens: every
batch that meets the fault waits here, keeping its offsets uncommitted; the worker pauses
its partitions; one prober sends the canary with capped exponential backoff and closes the
circuit when it is answered. The waiting batches then try again from the start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable

from worker.metrics import METRICS

log = logging.getLogger(__name__)


class FaultKind(enum.StrEnum):
    """Why the predictor is considered faulty (the ``kind`` label of the metric)."""

    UNAUTHORIZED = "unauthorized"  # 401/403 on a request
    SERVER_ERROR = "server_error"  # 5xx past the retry budget, and the canary fails too
    REJECTS_EVERYTHING = "rejects_everything"  # 4xx, and the canary is refused too


class CircuitStopped(Exception):
    """The worker is stopping while the circuit is open."""


class PredictorCircuit:
    """Open while the predictor is faulty; closed by a successful canary."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        stop: asyncio.Event,
        initial_s: float = 0.5,
        max_s: float = 30.0,
    ) -> None:
        self._probe = probe
        self._stop = stop
        self._initial_s = initial_s
        self._max_s = max_s
        self._closed = asyncio.Event()
        self._closed.set()
        # A new circuit is closed, and says so: the series exists from the start, and a
        # circuit that was stopped open earlier in this process does not leave it at 1.
        METRICS.predictor_circuit_open.set(0)
        self._prober: asyncio.Task[None] | None = None
        self.kind: FaultKind | None = None
        self.reason: str | None = None
        self.opened_at: float | None = None

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    async def canary_ok(self) -> bool:
        """One canary request now; ``True`` when the predictor answered it."""
        try:
            await self._probe()
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
            log.debug("canary failed: %s", exc)
            return False
        return True

    async def trip(self, kind: FaultKind, reason: str) -> None:
        """Open the circuit (if closed) and wait until it closes again.

        Raises:
            CircuitStopped: the worker is stopping; the caller's batch stays uncommitted.
        """
        if not self.is_open:
            self._closed.clear()
            self.kind, self.reason, self.opened_at = kind, reason[:500], time.monotonic()
            METRICS.predictor_faults.labels(kind=kind.value).inc()
            METRICS.predictor_circuit_open.set(1)
            log.error("predictor fault (%s): %s; holding offsets and probing", kind, reason)
            self._prober = asyncio.create_task(self._probe_until_closed())
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Return once the circuit is closed; :class:`CircuitStopped` when stopping first."""
        if self._closed.is_set():
            return
        stopping = asyncio.create_task(self._stop.wait())
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait({stopping, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            closed.cancel()
        if not self._closed.is_set():
            raise CircuitStopped(f"stopping while the predictor is faulty ({self.kind})")

    async def _probe_until_closed(self) -> None:
        delay = self._initial_s
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
            if await self.canary_ok():
                took = time.monotonic() - (self.opened_at or time.monotonic())
                log.warning("predictor recovered after %.1f s (%s); resuming", took, self.kind)
                self.kind = self.reason = self.opened_at = None
                METRICS.predictor_circuit_open.set(0)
                self._closed.set()
                return
            delay = min(delay * 2, self._max_s)

    async def close(self) -> None:
        """Stop probing (at shutdown)."""
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
            try:
                await self._prober
            except asyncio.CancelledError:
                pass
