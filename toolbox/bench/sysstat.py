"""CPU and memory of the benchmarked processes, read from ``/proc`` (Linux; no dependency).

A :class:`Sampler` thread records, every ``interval_s``, each watched process's resident set
size and its CPU time (user + system, children excluded). A phase of the benchmark reads the
samples between two instants: CPU cores used, peak and last RSS.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass, field

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (``None`` when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (``None`` when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Sample:
    t: float  # time.time()
    name: str
    rss: int
    cpu_s: float


@dataclass
class Sampler:
    """Samples the RSS and CPU time of named processes on a daemon thread."""

    interval_s: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _pids: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._pids[name] = pid
        self.sample()

    def forget(self, name: str) -> None:
        self.sample()
        with self._lock:
            self._pids.pop(name, None)

    def sample(self) -> None:
        now = time.time()
        with self._lock:
            pids = dict(self._pids)
        for name, pid in pids.items():
            rss, cpu = rss_bytes(pid), cpu_seconds(pid)
            if rss is not None and cpu is not None:
                with self._lock:
                    self.samples.append(Sample(now, name, rss, cpu))

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def series(self, name: str, since: float = 0.0, until: float = float("inf")) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.name == name and since <= s.t <= until]

    def usage(self, name: str, since: float) -> dict[str, float]:
        """From ``since`` to now: ``cpu_cores`` (mean), ``rss_peak_mb`` and ``rss_last_mb``."""
        self.sample()
        pts = self.series(name, since - 1e-3)
        if len(pts) < 2:
            return {"cpu_cores": 0.0, "rss_peak_mb": 0.0, "rss_last_mb": 0.0}
        span = pts[-1].t - pts[0].t
        return {
            "cpu_cores": (pts[-1].cpu_s - pts[0].cpu_s) / span if span > 0 else 0.0,
            "rss_peak_mb": max(p.rss for p in pts) / 2**20,
            "rss_last_mb": pts[-1].rss / 2**20,
        }


def machine() -> str:
    """``<CPU model>, <N> cores, <memory> GiB`` from lscpu and /proc/meminfo."""
    model = platform.processor() or platform.machine()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    return f"{model}, {os.cpu_count()} cores{mem}"
