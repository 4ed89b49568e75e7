"""Child processes on loopback: started with a log file, awaited with a bound, stopped cleanly.

A :class:`ChildProcess` can be stopped (SIGTERM, then SIGKILL after a bound), killed (a
crash) and started again. Every wait has a deadline, and a child that exits while it is
awaited is reported with the end of its log as a :class:`~toolbox.errors.HarnessError`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from toolbox.errors import HarnessError
from transport.broker.config import free_ports

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT_S = 60.0
POLL_S = 0.25
# Children never download a model: everything they load is on disk already.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
SETTINGS_PREFIX = "CATMATCH_"


def free_port() -> int:
    """A TCP port that was free on the loopback interface a moment ago."""
    return free_ports(LOOPBACK, 1)[0]


def child_env(
    extra: Mapping[str, str] | None = None, *, inherit_settings: bool = True
) -> dict[str, str]:
    """This process's environment for a child, offline, with ``extra`` on top.

    Without ``inherit_settings`` no ``CATMATCH_*`` variable is passed on, so the child reads
    only the configuration it is given.
    """
    env = {k: v for k, v in os.environ.items()
           if inherit_settings or not k.startswith(SETTINGS_PREFIX)}
    return {**env, **OFFLINE, **(extra or {})}


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether a GET of ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return bool(resp.status == 200)
    except OSError:
        return False


def scrape(url: str, timeout_s: float = 5.0) -> str:
    """The text of a Prometheus ``/metrics`` endpoint (``""`` when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return str(resp.read().decode())
    except OSError:
        return ""


class ChildProcess:
    """One command run as a child process, its output appended to ``log_path``."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        *,
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = dict(env) if env is not None else child_env()
        self.stop_timeout_s = stop_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> Self:
        """Start the command unless it is running already."""
        with self._lock:
            if not self.running:
                with self.log_path.open("ab") as log:
                    self.process = subprocess.Popen(
                        self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
                    )
        return self

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit code (None: never started)."""
        with self._lock:
            proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash, no graceful shutdown."""
        with self._lock:
            proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(self.stop_timeout_s)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check(self) -> None:
        """Raise :class:`HarnessError` (with the end of the log) if the child has exited."""
        proc = self.process
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"{self.name} exited with {proc.returncode}:\n{self.log_tail()}")

    def wait_http(self, url: str, timeout_s: float) -> None:
        """Until ``url`` answers 200; fails early when the child exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            if http_ok(url):
                return
            time.sleep(POLL_S)
        raise HarnessError(f"{url} not ready after {timeout_s:.0f}s (log: {self.log_path})")
