"""Short versions of the fault drills (``catmatch drill``), as processes, counted from outside.

The long versions (2,000 products per drill, 10,000 on the cluster) are documented commands in
docs/RELIABILITY.md; these keep every fault class in ``make test``.
"""

from __future__ import annotations

import pytest

from toolbox.drills.pipeline import DrillOptions
from toolbox.drills.scenarios import DRILLS, run_drill

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("name", "guarantee"), [
    ("hostile", "exactly_once"),
    ("worker-kill", "at_least_once"),
    ("predictor-403", "exactly_once"),
    ("broker-restart", "exactly_once"),
    ("leader-kill", "exactly_once"),
])
def test_drill(name, guarantee, tiny_model_dir, tmp_path):
    options = DrillOptions(model_dir=tiny_model_dir, work_dir=tmp_path / name, products=400,
                           rate=100.0, guarantee=guarantee, timeout_s=180.0)
    report = run_drill(DRILLS[name], options)
    assert report.lost == 0, report
    assert report.valid_dead_lettered == 0, report
    assert report.hostile_dead_lettered == report.hostile, report
    assert report.committed_to_end, report
    if guarantee == "exactly_once":
        assert report.duplicates == 0, report
    assert report.passed
