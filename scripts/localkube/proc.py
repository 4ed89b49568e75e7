"""Running commands, and starting and stopping long-lived processes by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_S = 10.0


class Unavailable(RuntimeError):
    """This machine cannot do it (no Go, no network, no package, not root)."""


class NotReady(RuntimeError):
    """A component did not get ready in time; the message names it and its log."""


def log(msg: str, who: str = "cluster") -> None:
    print(f"{who}: {msg}", flush=True)


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float = 1800,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,  # noqa: A002 (subprocess's own name)
    nice: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; on failure raise with the tail of it.

    ``nice`` runs it at nice 19, for builds on a machine shared with other work.
    """
    args = [str(c) for c in cmd]
    if nice:
        args = ["nice", "-n", "19", *args]
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        input=input,
    )
    if check and out.returncode:
        tail = (out.stdout + out.stderr).strip()[-4000:]
        raise RuntimeError(f"{' '.join(args)} exited {out.returncode}:\n{tail}")
    return out


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def runs(pid: int, binary: str | Path) -> bool:
    """``pid`` is alive and its argv[0] is ``binary`` (a reused PID is not ours)."""
    argv = cmdline(pid)
    return bool(pid) and alive(pid) and bool(argv) and argv[0] == str(binary)


def stop_pid(pid: int, binary: str | Path, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, a bounded wait, then SIGKILL; only if ``pid`` still runs ``binary``.

    Returns whether it had to be killed.
    """
    if not runs(pid, binary):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for(lambda: not alive(pid), timeout):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 5)
    return True


def stop_pids(
    procs: Sequence[tuple[int, str | Path]], timeout: float = STOP_TIMEOUT_S
) -> list[int]:
    """:func:`stop_pid` for several at once: one grace period for all; returns the killed."""
    ours = [pid for pid, binary in procs if runs(pid, binary)]
    for pid in ours:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not any(alive(p) for p in ours), timeout)
    killed = [pid for pid in ours if alive(pid)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in killed), 5)
    return killed


def wait_for(cond: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``cond`` until it holds or ``timeout`` seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_started(
    what: str, health: Callable[[], str], pid: int, logfile: Path, timeout: float
) -> None:
    """Poll ``health`` ("" = ready) until the daemon ``pid`` is ready; :class:`NotReady`, with
    the end of its log, as soon as it exits or once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive(pid):
            raise NotReady(f"{what} exited during start; log {logfile}:\n{tail(logfile)}")
        last = health()
        if not last:
            return
        time.sleep(0.3)
    raise NotReady(f"{what} not ready within {timeout:.0f} s ({last}); log {logfile}:\n"
                   f"{tail(logfile)}")


def spawn(argv: Sequence[str | Path], logfile: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a daemon in its own session, output to ``logfile``; returns its PID.

    It outlives this process (``up`` returns while the cluster runs); ``down`` stops it.
    """
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    # Popen returns once exec has closed our pipe, a moment before the kernel has the new
    # argv in place: /proc/PID/cmdline may still read empty then, and :func:`runs` would call
    # the new daemon someone else's. Wait for it (or for its exit) so it never does.
    wait_for(lambda: proc.poll() is not None or cmdline(proc.pid)[:1] == [str(argv[0])], 5, 0.01)
    return proc.pid


def tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.is_file() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def du(path: Path) -> int:
    """Bytes under ``path`` (0 when it is missing)."""
    if not path.exists():
        return 0
    out = run(["du", "-sb", path], check=False)
    try:
        return int(out.stdout.split()[0])
    except (ValueError, IndexError):
        return 0
