"""Token-bucket arithmetic and the progress line, with a fake clock (no sleeping, no timing)."""

from __future__ import annotations

import io

import pytest

from toolbox.produce.pacing import TokenBucket
from toolbox.produce.progress import ProgressLine, format_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_makes_callers_wait_one_interval_per_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.1)
    assert bucket.take() == pytest.approx(0.2)  # debt accumulates when nobody waits
    clock.advance(0.2)  # the debt (-2 tokens) is repaid at 10/s
    assert bucket.tokens == pytest.approx(0.0)
    assert bucket.take() == pytest.approx(0.1)
    clock.advance(0.5)
    assert bucket.tokens == pytest.approx(1.0)  # capped at burst


def test_burst_is_available_at_once_then_refills_but_never_beyond_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=5, clock=clock)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5
    assert bucket.take() == pytest.approx(0.01)
    clock.advance(60)
    assert bucket.tokens == pytest.approx(5)


def test_long_run_rate_is_exact() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=250, clock=clock)
    start = clock.now
    for _ in range(10_000):
        clock.advance(bucket.take())
    # the first `burst` events are free; the rest are spaced 1/rate apart
    assert clock.now - start == pytest.approx((10_000 - bucket.burst) / 250)


def test_default_burst_is_a_twentieth_of_a_second_at_least_one() -> None:
    assert TokenBucket(rate=2000, clock=FakeClock()).burst == 100
    assert TokenBucket(rate=3, clock=FakeClock()).burst == 1


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (10, 0.5)])
def test_bucket_rejects_bad_arguments(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst, clock=FakeClock())


def test_format_progress() -> None:
    line = format_progress(500, 0, 1234.4, total=1000)
    assert line.startswith("[" + "#" * 12 + "-" * 12 + "]  50%")
    assert "500 delivered, 0 failed, 1,234 msg/s of 1,000" in line
    assert format_progress(7, 1, 2.0, total=None) == "7 delivered, 1 failed, 2 msg/s"


def test_progress_line_is_throttled_and_cleared() -> None:
    clock = FakeClock()
    out = io.StringIO()
    progress = ProgressLine(total=10, enabled=True, stream=out, interval=0.2, clock=clock)
    progress.update(1, 0, 1.0)
    progress.update(2, 0, 1.0)  # too soon: skipped
    clock.advance(0.25)
    progress.update(3, 0, 1.0)
    text = out.getvalue()
    assert text.count("\r") == 2 and "3 delivered" in text and "2 delivered" not in text
    progress.close()
    assert out.getvalue().endswith("\r")


def test_disabled_progress_line_prints_nothing() -> None:
    out = io.StringIO()
    progress = ProgressLine(total=10, enabled=False, stream=out)
    progress.update(1, 0, 1.0, force=True)
    progress.close()
    assert out.getvalue() == ""
    assert ProgressLine(stream=io.StringIO()).enabled is False  # not a TTY
