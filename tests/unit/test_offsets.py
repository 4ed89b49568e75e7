from worker.offsets import OffsetTracker

TP = ("in", 0)


def track(tracker: OffsetTracker, offsets, partition=0):
    return tracker.track_many(("in", partition, o) for o in offsets)


def test_position_waits_for_the_oldest_pending_message():
    tracker = OffsetTracker()
    first, second = track(tracker, range(0, 3)), track(tracker, range(3, 6))
    tracker.done(second)  # the later batch finishes first
    assert tracker.commit_positions() == {}
    tracker.done(first)
    assert tracker.commit_positions() == {TP: 6}


def test_partial_progress_commits_the_contiguous_prefix():
    tracker = OffsetTracker()
    a, b, c = track(tracker, [10, 11]), track(tracker, [12]), track(tracker, [13, 14])
    tracker.done(a)
    tracker.done(c)
    assert tracker.commit_positions() == {TP: 12}
    tracker.done(b)
    assert tracker.commit_positions() == {TP: 15}


def test_positions_are_reported_once_until_they_move():
    tracker = OffsetTracker()
    tracker.done(track(tracker, [0, 1]))
    positions = tracker.commit_positions()
    tracker.mark_committed(positions)
    assert tracker.commit_positions() == {}
    tracker.done(track(tracker, [2]))
    assert tracker.commit_positions() == {TP: 3}


def test_partitions_are_independent_and_can_be_filtered():
    tracker = OffsetTracker()
    tracker.done(track(tracker, [5], partition=0))
    track(tracker, [7], partition=1)  # still pending
    tracker.done(track(tracker, [9], partition=2))
    assert tracker.commit_positions() == {("in", 0): 6, ("in", 2): 10}
    assert tracker.commit_positions(only=[("in", 2)]) == {("in", 2): 10}
    assert tracker.pending_count() == 1


def test_a_batch_finishing_after_revocation_does_not_move_the_new_assignment():
    tracker = OffsetTracker()
    old = track(tracker, [0, 1, 2])
    tracker.revoke([TP])
    new = track(tracker, [0, 1, 2])  # assigned back, consumed again from the committed offset
    tracker.done(old)
    assert tracker.commit_positions() == {}
    tracker.done(new)
    assert tracker.commit_positions() == {TP: 3}


def test_wait_finished_returns_once_the_partitions_work_is_done():
    import threading

    tracker = OffsetTracker()
    tickets = track(tracker, [0, 1])
    other = track(tracker, [0], partition=1)
    assert tracker.wait_finished([TP], timeout_s=0.01) is False
    threading.Timer(0.05, tracker.done, args=(tickets,)).start()
    assert tracker.wait_finished([TP], timeout_s=10) is True
    assert tracker.wait_finished([("in", 1)], timeout_s=0.01) is False  # still pending
    tracker.done(other)
    assert tracker.wait_finished([("in", 1), ("in", 7)], timeout_s=0.01) is True
