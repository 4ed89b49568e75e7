"""A ``redis-server`` child process on loopback, for the demo, the tests and benchmarks.

Production points ``cache.redis_url`` at its own Redis; this starts Debian's ``redis-server``
(``apt-get install redis-server``; ``scripts/bootstrap.sh`` installs it) the way a cache wants
it: no persistence, bounded memory with LRU eviction, bound to loopback only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from core.services import Service


class RedisNotInstalled(RuntimeError):
    """No ``redis-server`` binary on PATH."""


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ping(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers ``PING`` at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(Service):
    """``with RedisServer(data_dir) as redis: redis.url``; ``port=0`` picks a free port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        maxmemory: str = "256mb",
        binary: str = "redis-server",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or _free_port(host)
        self.maxmemory = maxmemory
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def command(self) -> list[str]:
        exe = shutil.which(self.binary)
        if exe is None:
            raise RedisNotInstalled(
                f"{self.binary} not found; install it (apt-get install redis-server)"
            )
        return [
            exe,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--save", "",
            "--appendonly", "no",
            "--maxmemory", self.maxmemory,
            "--maxmemory-policy", "allkeys-lru",
            "--daemonize", "no",
            "--logfile", str(self.log_path.resolve()),
        ]

    def start(self, timeout_s: float = 20.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout_s
        while not ping(self.host, self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with {self.proc.returncode}: {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server not answering on {self.host}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL (a crash), for fault tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

