"""Fault drills on a secured broker (``catmatch drill run --security sasl_ssl``): workers and
the drill's own clients log in as SCRAM users with only their roles' ACLs."""

from __future__ import annotations

import pytest

from toolbox.drills.pipeline import DrillOptions
from toolbox.drills.scenarios import DRILLS, run_drill

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("name", "guarantee"), [
    ("hostile", "exactly_once"),
    ("wrong-password", "exactly_once"),
    ("acl-revoked", "at_least_once"),
    ("acl-revoked", "exactly_once"),
])
def test_secured_drill(name, guarantee, tiny_model_dir, tmp_path):
    options = DrillOptions(model_dir=tiny_model_dir, work_dir=tmp_path / name, products=300,
                           rate=100.0, guarantee=guarantee, timeout_s=180.0,
                           security="sasl_ssl")
    report = run_drill(DRILLS[name], options)
    assert report.lost == 0, report
    assert report.valid_dead_lettered == 0, report
    assert report.hostile_dead_lettered == report.hostile, report
    assert report.committed_to_end, report
    if guarantee == "exactly_once":
        assert report.duplicates == 0, report
    assert report.passed
