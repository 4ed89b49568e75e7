"""Adaptive batch size: multiplicative growth while fast and full, shrink when slow."""

import pytest

from worker.batching import BatchSizer


def test_grows_while_full_batches_come_back_fast_up_to_the_maximum():
    sizer = BatchSizer(8, 256, target_s=1.0)
    sizes = [sizer.observe(sizer.size, 0.1) for _ in range(10)]
    assert sizes[0] > 64 and sizes[-1] == 256
    assert sizes == sorted(sizes)


def test_a_batch_that_was_not_full_does_not_grow_it():
    sizer = BatchSizer(8, 256, target_s=1.0)
    assert sizer.observe(10, 0.01) == 64


def test_shrinks_when_slow_down_to_the_minimum_and_holds_in_between():
    sizer = BatchSizer(8, 256, target_s=1.0)
    assert sizer.observe(64, 2.0) == 44
    for _ in range(20):
        sizer.observe(sizer.size, 5.0)
    assert sizer.size == 8
    assert sizer.observe(8, 0.7) == 8  # between half the target and the target: hold


def test_fixed_when_not_adaptive_and_bounds_checked():
    sizer = BatchSizer(8, 128, target_s=1.0, adaptive=False)
    assert sizer.size == 128 and sizer.observe(128, 9.0) == 128
    with pytest.raises(ValueError):
        BatchSizer(0, 10, 1.0)
