"""Child processes of the demo and the drills: started with a log file, awaited, stopped.

Each helper bounds its wait; a child that dies while we wait is reported with the end of
its log.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from catmatch.errors import UserError

STOP_TIMEOUT_S = 60.0


def start(cmd: Sequence[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: a crash, no graceful shutdown."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


@contextmanager
def managed(cmd: Sequence[str], env: dict[str, str], log_path: Path
            ) -> Iterator[subprocess.Popen[bytes]]:
    """A child process stopped (SIGTERM, then SIGKILL) when the block ends."""
    proc = start(cmd, env, log_path)
    try:
        yield proc
    finally:
        stop(proc)


def _tail(log_path: Path, chars: int = 2000) -> str:
    try:
        return log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_http(
    url: str, proc: subprocess.Popen[bytes], timeout_s: float, log_path: Path
) -> None:
    """Until ``url`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"{' '.join(map(str, proc.args[:3]))} exited with "  # type: ignore[index]
                            f"{proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise UserError(f"{url} not ready after {timeout_s:.0f}s (log: {log_path})")


def wait_assigned(
    ports: Sequence[int], procs: Sequence[subprocess.Popen[bytes]], log_path: Path,
    timeout_s: float = 120,
) -> None:
    """Until every worker on ``ports`` is ready and owns a partition (the group settled)."""
    deadline = time.monotonic() + timeout_s
    urls = [f"http://127.0.0.1:{port}/readyz" for port in ports]
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise UserError(f"a worker exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            states = []
            for url in urls:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                    states.append(json.load(resp))
            if all(state["assigned"] for state in states):
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise UserError(f"workers did not all get partitions within {timeout_s:.0f}s ({log_path})")


def scrape(url: str, timeout_s: float = 5.0) -> str:
    """The text of a Prometheus ``/metrics`` endpoint (``""`` when it does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return resp.read().decode()
    except OSError:
        return ""
