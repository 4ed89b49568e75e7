"""Retry policy for predictor calls (tenacity).

Only predictor calls are retried here. "Unavailable" (cold start, scaling, restart) is
waited out for as long as it takes, with capped exponential backoff, because a message
must never turn into an error just because the predictor is scaled to zero. Server errors
get a bounded number of tries. Everything stops promptly when the worker shuts down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from worker.metrics import METRICS
from worker.predictor_client import PredictorServerError, PredictorUnavailable

T = TypeVar("T")


class RetryPolicy:
    """Backoff settings plus the worker's stop event."""

    def __init__(
        self,
        stop: asyncio.Event,
        initial_s: float,
        max_s: float,
        server_error_attempts: int,
    ) -> None:
        self._stop = stop
        self._initial_s = initial_s
        self._max_s = max_s
        self._server_error_attempts = server_error_attempts

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` until it succeeds, fails permanently, or the worker stops.

        Raises:
            PredictorUnavailable: only when the worker is stopping.
            PredictorServerError: after ``server_error_attempts`` tries.
            PredictorRejected: at once.
        """
        server_errors = 0

        def should_retry(exc: BaseException) -> bool:
            nonlocal server_errors
            if self._stop.is_set():
                return False
            if isinstance(exc, PredictorUnavailable):
                METRICS.predictor_retries.labels(reason="unavailable").inc()
                return True
            if isinstance(exc, PredictorServerError):
                server_errors += 1
                if server_errors < self._server_error_attempts:
                    METRICS.predictor_retries.labels(reason="server_error").inc()
                    return True
            return False

        def never_stop(_: RetryCallState) -> bool:
            return False

        retrying = AsyncRetrying(
            retry=retry_if_exception(should_retry),
            wait=wait_exponential_jitter(
                multiplier=self._initial_s, max=self._max_s, jitter=self._initial_s
            ),
            stop=never_stop,
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                result = await fn()
        return result
