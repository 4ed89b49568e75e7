"""``predictor.cpu``: inference threads from OMP_NUM_THREADS, the cgroup quota or the CPUs."""

from __future__ import annotations

from pathlib import Path

import pytest

from predictor import cpu


def _cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[str, str] | None = None) -> Path:
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(v1[0])
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(v1[1])
    return tmp_path


@pytest.mark.parametrize(
    ("v2", "v1", "quota"),
    [
        ("200000 100000\n", None, 2.0),
        ("150000 100000\n", None, 1.5),
        ("max 100000\n", None, None),
        (None, ("300000", "100000"), 3.0),
        (None, ("-1", "100000"), None),
        (None, None, None),
        ("garbage\n", None, None),
    ],
)
def test_cpu_quota(tmp_path: Path, v2, v1, quota):
    assert cpu.cpu_quota(_cgroup(tmp_path, v2, v1)) == quota


def test_threads_follow_omp_then_quota_then_cpus(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cpu, "visible_cpus", lambda: 64)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu.inference_threads(_cgroup(tmp_path, "150000 100000")) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert cpu.inference_threads(tmp_path) == 1  # 1.5 CPUs rounded down
    (tmp_path / "cpu.max").write_text("50000 100000")
    assert cpu.inference_threads(tmp_path) == 1  # at least one
    (tmp_path / "cpu.max").write_text("max 100000")
    assert cpu.inference_threads(tmp_path) == 64
    monkeypatch.setattr(cpu, "visible_cpus", lambda: 2)
    (tmp_path / "cpu.max").write_text("800000 100000")
    assert cpu.inference_threads(tmp_path) == 2  # the quota never adds CPUs
