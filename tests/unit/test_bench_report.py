"""The latency target's reference: the predictor's p99 at the pipeline's mean batch."""

from __future__ import annotations

import math

import pytest

from toolbox.bench.report import p99_at

ROWS = [{"batch_size": 1, "p99_ms": 10.0}, {"batch_size": 8, "p99_ms": 40.0},
        {"batch_size": 32, "p99_ms": 130.0}]


def test_a_measured_batch_size_gives_its_own_p99() -> None:
    assert p99_at(ROWS, 8.0)[0] == 40.0


def test_between_two_sizes_the_p99_is_interpolated_in_log_batch() -> None:
    p99, how = p99_at(ROWS, math.sqrt(8))  # halfway between 1 and 8 on a log scale
    assert p99 == pytest.approx(25.0)
    assert "between batch 1" in how and "and 8" in how


@pytest.mark.parametrize(("batch", "edge"), [(0.5, 10.0), (float("nan"), 10.0), (100.0, 130.0)])
def test_outside_the_measured_sizes_the_nearest_edge_is_used(batch: float, edge: float) -> None:
    assert p99_at(ROWS, batch)[0] == edge
