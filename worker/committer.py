"""The commit tick: finished positions committed every ``commit_interval_ms``.

The commit itself (offsets, crash records, the delivery strategy's commit) runs on the
consumer thread (:meth:`worker.partitions.PartitionBook.commit`). A commit that fails is
tried again at the next tick, so a failure is logged once and then summarised every
``LOG_EVERY_S``; a fatal error (e.g. the transactional producer fenced by a newer
instance) stops the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException

from transport.access import ACCESS, LOGIN, classify, is_refusal
from transport.consumer import AsyncConsumer
from transport.types import TP
from worker.partitions import PartitionBook

log = logging.getLogger(__name__)

LOG_EVERY_S = 30.0


class Committer:
    """Commits on a timer, and when asked (shutdown)."""

    def __init__(
        self,
        consumer: AsyncConsumer,
        book: PartitionBook,
        interval_s: float,
        *,
        on_committed: Callable[[dict[TP, int]], None],
        on_fatal: Callable[[BaseException], None],
    ) -> None:
        self._consumer = consumer
        self._book = book
        self._interval_s = interval_s
        self._on_committed = on_committed
        self._on_fatal = on_fatal
        self._last = time.monotonic()
        self._failures = 0
        self._logged_at = 0.0

    async def tick(self) -> None:
        """Commit when the interval has passed since the last try."""
        if time.monotonic() - self._last >= self._interval_s:
            await self.commit()

    async def commit(self) -> None:
        self._last = time.monotonic()
        consumer = self._consumer
        try:
            committed = await consumer.call(
                self._book.commit, consumer.raw, None, self._on_committed
            )
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            denial = (classify(error, consumer.conf, operation="commit", role="worker")
                      if isinstance(error, KafkaError) and is_refusal(error) else None)
            if denial is not None:  # said once by ACCESS; tried again at the next tick
                ACCESS.denied(denial)
                self._failures += 1
            elif isinstance(error, KafkaError) and error.fatal():
                log.error("fatal commit error, stopping: %s", exc)
                self._on_fatal(exc)
            else:
                self._failed(exc)
            return
        finally:
            self._last = time.monotonic()
        if committed and ACCESS.blocked:  # the offsets went in: login and group work
            ACCESS.cleared(LOGIN, "group:")
        if self._failures:
            log.warning("commits go through again after %d failed tries", self._failures)
            self._failures = 0

    def _failed(self, exc: KafkaException) -> None:
        now = time.monotonic()
        self._failures += 1
        if self._failures == 1 or now - self._logged_at >= LOG_EVERY_S:
            log.warning("commit failed %d time(s) so far (will retry): %s", self._failures, exc)
            self._logged_at = now
