"""Run N worker processes in one consumer group and restart the ones that crash or hang.

With N == 1 the worker runs in this process (the container case: one pod per partition,
signals go straight to the worker; Kubernetes' liveness probe on ``/healthz`` plays the
supervisor's part). The supervisor polls each child's ``/healthz`` like such a probe: a
child that answers 503 (stuck, see :mod:`worker.probes`) ``UNHEALTHY_CHECKS`` times in a
row is restarted, and the log says why.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import time
import urllib.error
import urllib.request
from multiprocessing.process import BaseProcess
from typing import Any

from core.settings import Settings
from worker.app import Worker

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 30.0
STOP_TIMEOUT_S = 45.0
HEALTH_EVERY_S = 5.0
UNHEALTHY_CHECKS = 3
HEALTH_GRACE_S = 30.0  # after a start: the worker loads its tokenizer and joins the group


def worker_identity(
    settings: Settings, index: int, instance_id: str | None
) -> tuple[str, str | None]:
    """The worker id used in logs and dead letters, and its static group membership id."""
    worker_id = instance_id or f"worker-{index}"
    if not settings.worker.static_membership:
        return worker_id, None
    return worker_id, f"{settings.worker.group_id}-{worker_id}"


# The cyclic garbage collector's first-generation threshold for a worker process (Python's
# default is 700). Each batch allocates thousands of short-lived containers (decoded JSON,
# products, records) and almost no cycles, so at 700 the collector ran several times per
# batch and took ~40% of the message path (scripts/profile_worker.py, docs/BENCHMARKS.md).
GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect once, move everything that exists now (modules, settings, the tokenizer) out
    of the collector's sight with :func:`gc.freeze`, and raise the first generation's
    threshold: the collector still runs, and still frees cycles, but rarely."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def tune_process() -> None:
    """Process-wide defaults for a worker process (before anything tokenizes).

    The tokenizer runs on its own thread beside the event loop, so Rust's thread pool in
    ``encode_batch`` (``TOKENIZERS_PARALLELISM``) adds no throughput, only CPU: ~15% more
    per product, and the pool's threads compete with the event loop for the cores. Off by
    default here (measured 1.07x and 1.10x products/s, docs/BENCHMARKS.md); set it to
    ``true`` to have it back.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tune_gc()


async def serve_one(settings: Settings, index: int = 0, instance_id: str | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM."""
    tune_process()
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
        self._started_at: dict[int, float] = {}
        self._unhealthy: dict[int, int] = {}
        self._last_health = 0.0
        self._stopping = False

    def _start(self, index: int) -> None:
        proc = self._ctx.Process(
            target=_child_main,
            args=(self.settings.model_dump(), index, self.log_level),
            name=f"catmatch-worker-{index}",
        )
        proc.start()
        self._procs[index] = proc
        self._started_at[index] = time.monotonic()
        self._unhealthy[index] = 0
        log.info("started worker %d (pid %s)", index, proc.pid)

    def health_url(self, index: int) -> str | None:
        """Where child ``index`` answers ``/healthz`` (``None`` with ``metrics_port: 0``)."""
        w = self.settings.worker
        if not w.metrics_port:
            return None
        host = "127.0.0.1" if w.metrics_host in ("0.0.0.0", "") else w.metrics_host  # noqa: S104
        return f"http://{host}:{w.metrics_port + index}/healthz"

    def _check_health(self) -> None:
        """Restart children that keep answering 503 (a worker that is alive but stuck)."""
        now = time.monotonic()
        if now - self._last_health < HEALTH_EVERY_S:
            return
        self._last_health = now
        for index, proc in list(self._procs.items()):
            url = self.health_url(index)
            if url is None or not proc.is_alive():
                continue
            if now - self._started_at.get(index, now) < HEALTH_GRACE_S:
                continue
            healthy, detail = probe(url)
            self._unhealthy[index] = 0 if healthy else self._unhealthy[index] + 1
            if self._unhealthy[index] >= UNHEALTHY_CHECKS:
                log.error("worker %d failed %d health checks in a row (%s); restarting it",
                          index, UNHEALTHY_CHECKS, detail)
                self._kill(index, proc)

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

    def _kill(self, index: int, proc: BaseProcess) -> None:
        proc.terminate()
        proc.join(STOP_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        self._unhealthy[index] = 0

    def _watch(self) -> None:
        self._check_health()
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


def probe(url: str, timeout_s: float = 3.0) -> tuple[bool, str]:
    """``(healthy, detail)`` from a ``/healthz`` URL. Only an answer of 503 is unhealthy: a
    refused or slow connection is a worker starting or busy, judged by its exit instead."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return resp.status == 200, resp.read(500).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code != 503, exc.read(500).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return True, f"no answer: {exc}"
