"""One daemon thread that runs submitted calls in order.

Like ``ThreadPoolExecutor(max_workers=1)``, except that the thread is a daemon and is never
joined at interpreter exit: a librdkafka call that blocks forever (it happens while brokers
are down) must not keep a stopping worker alive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class SerialThread:
    """Runs calls one at a time on a private daemon thread."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop after the queued calls; ``False`` if the thread is still busy at ``timeout``."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()
