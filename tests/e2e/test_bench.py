"""``catmatch bench`` and ``catmatch bench soak`` end to end, with tiny counts.

Both start their own broker, predictors and workers on loopback. Nothing here asserts a
timing: the suite must report every mode and ratio, the soak must lose no product and keep
the worker's RSS growth after the warm-up under a generous memory bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def _catmatch(args: list[str], timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "catmatch", "--log-level", "WARNING", "bench", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ},
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return done.stdout


def test_bench_suite_reports_every_mode_and_ratio(tiny_model_dir: Path, tmp_path: Path):
    out = _catmatch([
        "--model-dir", str(tiny_model_dir), "--count", "150", "--noop-count", "400",
        "--naive-count", "30", "--naive-noop-count", "60", "--batch-sizes", "1,8",
        "--seconds", "0.3", "--schedule-seconds", "2", "--idle-seconds", "1",
        "--work-dir", str(tmp_path / "work"), "--plots-dir", str(tmp_path / "plots"),
    ], timeout=240)
    for mode in ("(1) model in process", "(2) predictor over HTTP", "(3) pipeline",
                 "(4) worker + no-op predictor", "(5) naive worker + real predictor",
                 "(5) naive worker + no-op predictor"):
        assert mode in out, out
    for ratio in ("pipeline / naive worker (real predictor)",
                  "worker / naive worker (no-op predictor)", "Latency target"):
        assert ratio in out, out
    for schedule in ("constant", "ramp", "burst", "idle_burst"):
        assert f"| {schedule}: " in out, out
    results = json.loads((tmp_path / "work" / "bench.json").read_text())
    assert {m["mode"] for m in results["modes"]} == {
        "pipeline", "worker_noop", "naive", "naive_noop"}
    assert all(m["duplicates"] == 0 for m in results["modes"])
    for name in ("bench-throughput.png", "bench-latency-cdf.png", "bench-rss.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 0


def test_bench_soak_loses_nothing_and_memory_stays_bounded(tiny_model_dir: Path,
                                                          tmp_path: Path):
    count = 30000
    _catmatch([
        "soak", "--model-dir", str(tiny_model_dir), "--count", str(count),
        "--cache-entries", "2000", "--work-dir", str(tmp_path / "work"), "--no-plots",
    ], timeout=240)
    result = json.loads((tmp_path / "work" / "soak.json").read_text())
    assert result["labelled"] == count  # every product has its result (no loss)
    assert result["cache_entries_at_end"] <= 2000
    # A memory bound, generous for a short run on a shared machine (the 10% is for
    # the 1,000,000-product soak).
    assert result["growth"] < 0.5, result["growth"]
