"""Workers as child processes: ``python -m worker``, the worker image's entry point.

One :class:`WorkerProcess` runs ``workers`` workers (its own supervisor starts them when
there is more than one); worker ``i`` serves ``/metrics`` and ``/readyz`` on
``metrics_port + i``. :func:`wait_assigned` waits until every worker owns a partition.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from toolbox.errors import HarnessError
from toolbox.harness.children import LOOPBACK, POLL_S, ChildProcess, free_port

METRICS_PORT_ENV = "CATMATCH_WORKER__METRICS_PORT"
ASSIGN_TIMEOUT_S = 120.0


class WorkerProcess(ChildProcess):
    """``python -m worker --workers N [args]`` with its metrics on ``metrics_port + i``."""

    def __init__(
        self,
        name: str,
        log_path: Path,
        env: Mapping[str, str],
        *,
        workers: int = 1,
        metrics_port: int | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.metrics_port = metrics_port or free_port()
        self.workers = workers
        command = [sys.executable, "-m", "worker", "--workers", str(workers), *args]
        super().__init__(name, command, log_path,
                         {**env, METRICS_PORT_ENV: str(self.metrics_port)})

    @property
    def ports(self) -> list[int]:
        """The metrics port of each worker."""
        return [self.metrics_port + i for i in range(self.workers)]

    def metrics_url(self, index: int = 0) -> str:
        return f"http://{LOOPBACK}:{self.ports[index]}/metrics"


def _assigned(port: int) -> bool:
    try:
        url = f"http://{LOOPBACK}:{port}/readyz"
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            return bool(json.load(resp)["assigned"])
    except (OSError, ValueError, KeyError):
        return False


def wait_assigned(workers: Iterable[WorkerProcess], timeout_s: float = ASSIGN_TIMEOUT_S) -> None:
    """Until every worker of ``workers`` is ready and owns a partition (the group settled).

    Raises:
        HarnessError: a worker process exited, or the group did not settle in time.
    """
    procs = list(workers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in procs:
            proc.check()
        if all(_assigned(port) for proc in procs for port in proc.ports):
            return
        time.sleep(POLL_S)
    logs = ", ".join(str(proc.log_path) for proc in procs)
    raise HarnessError(f"workers did not all get partitions within {timeout_s:.0f}s ({logs})")
