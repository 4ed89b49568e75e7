"""Stuck detection: work waiting, a ready predictor, and no commit moving."""

from worker.probes import Progress


def test_no_work_is_never_stuck_and_the_clock_starts_when_work_arrives():
    p = Progress(stall_timeout_s=10, advanced_at=0.0, assigned=1)
    p.quiet(now=100.0)
    assert p.stalled_s(now=500.0) == 0.0 and not p.stuck(now=500.0)
    p.backlog = 5
    assert p.stalled_s(now=105.0) == 5.0 and not p.stuck(now=105.0)
    assert p.stuck(now=111.0)


def test_waiting_for_the_predictor_is_not_stuck():
    p = Progress(stall_timeout_s=10, advanced_at=0.0, assigned=1, pending=3)
    p.predictor_waiting = True
    assert not p.stuck(now=1000.0)
    p.quiet(now=1000.0)
    p.predictor_waiting = False
    assert not p.stuck(now=1005.0) and p.stuck(now=1011.0)


def test_without_partitions_a_backlog_is_someone_else_s():
    p = Progress(stall_timeout_s=10, advanced_at=0.0, assigned=0, backlog=100)
    assert not p.stuck(now=1000.0)
