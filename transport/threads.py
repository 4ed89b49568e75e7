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


class CallTimedOut(Exception):
    """A blocking call did not return within its bound (it is left running, abandoned)."""


def call_bounded(call: Callable[..., object], *args: object, bound_s: float) -> None:
    """Run a blocking call on a daemon thread and wait at most ``bound_s`` for it.

    For librdkafka calls that can block far past their own timeout (e.g.
    ``send_offsets_to_transaction`` while the group coordinator is down, librdkafka issue
    5456). An overrun leaves the call, and the client it was made on, behind: the thread is
    a daemon, so it cannot keep the process from exiting. The call's exception, if any, is
    raised in the caller's thread.

    Raises:
        CallTimedOut: the call did not return in time.
    """
    outcome: list[BaseException | None] = []
    done = threading.Event()

    def target() -> None:
        try:
            call(*args)
            outcome.append(None)
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=target, name="bounded-call", daemon=True).start()
    if not done.wait(bound_s):
        name = getattr(call, "__name__", "call")
        raise CallTimedOut(f"{name} did not return within {bound_s:g} s")
    if outcome and outcome[0] is not None:
        raise outcome[0]
