"""The ``token-rotation`` drill (``catmatch drill run token-rotation``): the predictor's token is
rotated while products flow through real processes, counted from outside."""

from __future__ import annotations

import pytest

from toolbox.drills.pipeline import DrillOptions
from toolbox.drills.scenarios import DRILLS, run_drill

pytestmark = pytest.mark.e2e


def test_a_token_rotation_mid_stream_loses_refuses_and_duplicates_nothing(
    tiny_model_dir, tmp_path
):
    # 1,000 products at 100/s: about 10 s of input, the rotation (~6 s) starts after 3 s
    options = DrillOptions(model_dir=tiny_model_dir, work_dir=tmp_path / "rotation",
                           products=1000, rate=100.0, guarantee="exactly_once",
                           timeout_s=180.0)
    report = run_drill(DRILLS["token-rotation"], options)
    assert report.tokens and report.unauthorized == 0, report
    assert report.lost == 0 and report.duplicates == 0, report
    assert report.dead_letters == 0 and report.valid_dead_lettered == 0, report
    assert report.committed_to_end and report.passed, report
    logs = (tmp_path / "rotation" / "logs").glob("*.log")
    assert any("token file" in log.read_text(errors="replace") for log in logs)
