"""Run N worker processes in one consumer group and restart the ones that crash.

With N == 1 the worker runs in this process (the container case: one pod per partition,
signals go straight to the worker).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from core.settings import Settings
from worker.app import Worker

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 30.0
STOP_TIMEOUT_S = 45.0


def worker_identity(
    settings: Settings, index: int, instance_id: str | None
) -> tuple[str, str | None]:
    """The worker id used in logs and dead letters, and its static group membership id."""
    worker_id = instance_id or f"worker-{index}"
    if not settings.worker.static_membership:
        return worker_id, None
    return worker_id, f"{settings.worker.group_id}-{worker_id}"


async def serve_one(settings: Settings, index: int = 0, instance_id: str | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM."""
    worker_id, static_id = worker_identity(settings, index, instance_id)
    port = settings.worker.metrics_port
    worker = Worker(settings, worker_id, static_id, metrics_port=port + index if port else 0)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


def _child_main(settings_data: dict[str, Any], index: int, log_level: str) -> None:
    logging.basicConfig(
        level=log_level,
        format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s",
    )
    settings = Settings(**settings_data)
    asyncio.run(serve_one(settings, index))


class Supervisor:
    """Starts, watches and stops worker processes."""

    def __init__(self, settings: Settings, workers: int, log_level: str = "INFO") -> None:
        self.settings = settings
        self.workers = workers
        self.log_level = log_level
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: dict[int, BaseProcess] = {}
        self._restarts: dict[int, int] = {}
        self._next_start: dict[int, float] = {}
        self._stopping = False

    def _start(self, index: int) -> None:
        proc = self._ctx.Process(
            target=_child_main,
            args=(self.settings.model_dump(), index, self.log_level),
            name=f"catmatch-worker-{index}",
        )
        proc.start()
        self._procs[index] = proc
        log.info("started worker %d (pid %s)", index, proc.pid)

    def stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> int:
        """Block until stopped; returns 0 when every worker exited cleanly."""
        previous = {s: signal.signal(s, self.stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for i in range(self.workers):
                self._start(i)
            while not self._stopping:
                self._watch()
                time.sleep(0.2)
            return self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _watch(self) -> None:
        now = time.monotonic()
        for index, proc in list(self._procs.items()):
            if proc.is_alive():
                continue
            if index not in self._next_start:
                count = self._restarts.get(index, 0) + 1
                self._restarts[index] = count
                delay = min(2 ** (count - 1), RESTART_BACKOFF_MAX_S)
                log.error(
                    "worker %d exited with code %s; restarting in %.0fs",
                    index,
                    proc.exitcode,
                    delay,
                )
                self._next_start[index] = now + delay
            elif now >= self._next_start[index]:
                del self._next_start[index]
                self._start(index)

    def _shutdown(self) -> int:
        log.info("stopping %d workers", len(self._procs))
        for proc in self._procs.values():
            if proc.is_alive() and proc.pid:
                proc.terminate()  # SIGTERM: the worker drains, commits and exits
        deadline = time.monotonic() + STOP_TIMEOUT_S
        code = 0
        for index, proc in self._procs.items():
            proc.join(max(deadline - time.monotonic(), 0.1))
            if proc.is_alive():
                log.error("worker %d did not stop in time; killing it", index)
                proc.kill()
                proc.join()
                code = 1
            elif proc.exitcode not in (0, -signal.SIGTERM):
                code = 1
        return code
