"""localkube.proc: the daemons the node tool starts are known by PID and argv[0] from the moment
:func:`spawn` returns (real processes, no root needed), and the Prometheus the cluster test
runs starts, answers and stops on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fixtures.tools import installed, load_script

load_script("cluster")  # puts scripts/ on sys.path

from localkube import prometheus  # noqa: E402
from localkube.proc import NotReady, alive, runs, spawn, stop_pid, wait_for  # noqa: E402

SLEEP = shutil.which("sleep") or "/bin/sleep"


def test_a_spawned_daemon_is_ours_as_soon_as_spawn_returns(tmp_path: Path) -> None:
    # Before spawn waited for the new argv, /proc/PID/cmdline read empty for a moment after
    # Popen returned and runs() said "not ours" in most of 50 tries: the Prometheus of the
    # cluster test was then reported as not ready while it ran.
    for _ in range(30):
        pid = spawn([SLEEP, "30"], tmp_path / "sleep.log")
        try:
            assert runs(pid, SLEEP)
            assert not runs(pid, "/bin/not-this-one")
        finally:
            stop_pid(pid, SLEEP, timeout=5)
        assert not alive(pid)


def test_a_daemon_that_exits_at_once_is_seen_gone_and_left_alone(tmp_path: Path) -> None:
    false = shutil.which("false") or "/bin/false"
    pid = spawn([false], tmp_path / "false.log")
    assert wait_for(lambda: not alive(pid), 5)  # a zombie counts as gone
    assert not runs(pid, false)
    assert not stop_pid(pid, false, timeout=1)  # nothing of ours to stop


@pytest.fixture
def binary() -> str:
    return installed("prometheus", "apt-get install prometheus")


def test_prometheus_starts_answers_and_stops_on_loopback(binary: str, tmp_path: Path) -> None:
    prom = prometheus.Prometheus(tmp_path / "prom", "127.0.0.1")
    prom.start(prometheus.config(prom.root, []))
    try:
        pid = json.loads((prom.root / "pid.json").read_text())["pid"]
        assert runs(pid, binary)
        loaded = prom.api("/api/v1/status/config")["yaml"]
        assert all(f"job_name: {job}" in loaded for job in prometheus.JOBS)
    finally:
        prom.stop()
    assert not alive(pid)
    assert not (prom.root / "pid.json").exists()


def test_prometheus_that_cannot_start_says_so_with_its_log(binary: str, tmp_path: Path) -> None:
    prom = prometheus.Prometheus(tmp_path / "prom", "127.0.0.1")
    bad = prometheus.config(prom.root, [])
    bad["scrape_configs"][0]["scrape_interval"] = "not a duration"
    with pytest.raises(NotReady, match="(?s)exited during start.*not a duration"):
        prom.start(bad)
