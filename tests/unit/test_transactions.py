"""The transactional outbox: which batches a transaction holds, and what an abort leaves."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from core.settings import Settings
from worker.outputs import Outgoing
from worker.transactions import Entry, TransactionAborted, TransactionalOutbox, select

A, B = ("in", 0), ("in", 1)


Out = Outgoing  # the records a batch hands over


def offsets(positions: dict[tuple[str, int], int]) -> list[TopicPartition]:
    return [TopicPartition(t, p, o) for (t, p), o in positions.items()]


def test_only_batches_wholly_below_the_commit_position_are_selected():
    first, second, gap_after = Entry(A, 9, []), Entry(A, 19, []), Entry(A, 39, [])
    other = Entry(B, 4, [])
    # A: offsets 0-19 done, 20-29 still at the predictor, 30-39 done → position 20
    assert select([first, second, gap_after, other], {A: 20}) == [first, second]
    assert select([first, second, gap_after, other], {A: 40, B: 5}) == [
        first, second, gap_after, other,
    ]
    assert select([first], {}) == []


class FakeProducer:
    """Records the transactional calls; fails them when told to (one error each)."""

    def __init__(self, **fail: KafkaError) -> None:
        self.calls: list[str] = []
        self.produced: list[bytes] = []
        self.fail = dict(fail)
        self.refuse: set[bytes] = set()  # values whose delivery fails with MSG_SIZE_TOO_LARGE

    def _maybe_fail(self, call: str) -> None:
        error = self.fail.pop(call, None)
        if error is not None:
            self.calls.append(f"{call} failed")
            raise KafkaException(error)
        self.calls.append(call)

    def init_transactions(self, timeout):
        self._maybe_fail("init")

    def begin_transaction(self):
        self._maybe_fail("begin")

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None):
        self.produced.append(value)
        if value in self.refuse and on_delivery is not None:
            on_delivery(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"), None)

    def send_offsets_to_transaction(self, offsets, metadata, timeout):
        self._maybe_fail("offsets")
        self.calls[-1] = f"offsets {[(o.partition, o.offset) for o in offsets]}"

    def commit_transaction(self, timeout):
        self._maybe_fail("commit")

    def abort_transaction(self, timeout):
        self._maybe_fail("abort")

    def flush(self, timeout):
        return 0


class FakeConsumer:
    def consumer_group_metadata(self):
        return object()


def outbox(producer: FakeProducer, committed: list, **kwargs) -> TransactionalOutbox:
    return TransactionalOutbox(
        Settings(), "t-1", producer=producer, on_committed=committed.extend, **kwargs
    )


def test_a_transaction_holds_the_selected_outputs_and_the_offsets():
    producer, committed = FakeProducer(), []
    box = outbox(producer, committed)
    box.add(A, 1, [Out("out", b"a0", b"r0"), Out("dlq", b"a1", b"d1")])
    box.add(A, 3, [Out("out", b"a2", b"r2"), Out("out", b"a3", b"r3")])
    assert box.commit(FakeConsumer(), offsets({A: 2})) == {A: 2}
    assert producer.calls == ["begin", "offsets [(0, 2)]", "commit"]
    assert producer.produced == [b"r0", b"d1"]
    assert [o.value for o in committed] == [b"r0", b"d1"]
    assert box.queued() == 1  # offsets 2-3 wait for a later transaction


def test_an_aborted_transaction_keeps_its_batches_for_the_next_one():
    abortable = KafkaError(KafkaError._TIMED_OUT, "commit timed out", txn_requires_abort=True)
    producer, committed = FakeProducer(commit=abortable), []
    box = outbox(producer, committed)
    box.add(A, 0, [Out("out", b"k", b"r0")])
    with pytest.raises(TransactionAborted):
        box.commit(FakeConsumer(), offsets({A: 1}))
    assert committed == [] and box.queued() == 1 and box.state == "aborting"
    assert box.commit(FakeConsumer(), offsets({A: 1})) == {A: 1}
    assert producer.calls == [
        "begin", "offsets [(0, 1)]", "commit failed", "abort", "begin", "offsets [(0, 1)]", "commit"
    ]
    assert producer.produced == [b"r0", b"r0"]  # again, in the new transaction
    assert [o.value for o in committed] == [b"r0"] and box.queued() == 0


def test_a_retriable_commit_is_called_again_at_the_next_tick_not_aborted():
    retriable = KafkaError(KafkaError._TIMED_OUT, "commit timed out", retriable=True)
    producer, committed = FakeProducer(commit=retriable), []
    box = outbox(producer, committed)
    box.add(A, 0, [Out("out", b"k", b"r0")])
    with pytest.raises(TransactionAborted):
        box.commit(FakeConsumer(), offsets({A: 1}))
    assert box.state == "committing"
    # the next tick finishes the same transaction first (new positions wait for later)
    assert box.commit(FakeConsumer(), offsets({A: 1, B: 3})) == {A: 1}
    assert producer.calls == ["begin", "offsets [(0, 1)]", "commit failed", "commit"]
    assert producer.produced == [b"r0"] and [o.value for o in committed] == [b"r0"]


def test_an_abort_that_fails_is_tried_again_at_the_next_tick():
    slow = KafkaError(KafkaError._TIMED_OUT, "broker down", retriable=True)
    producer = FakeProducer(offsets=slow, abort=slow)
    box = outbox(producer, [])
    box.add(A, 0, [Out("out", b"k", b"r0")])
    for _ in range(2):  # offsets fail; then the abort fails
        with pytest.raises(TransactionAborted):
            box.commit(FakeConsumer(), offsets({A: 1}))
    assert box.state == "aborting" and box.queued() == 1
    assert box.commit(FakeConsumer(), offsets({A: 1})) == {A: 1}  # abort, then a new one
    assert box.queued() == 0


def test_a_fatal_error_starts_a_new_producer_and_the_batches_go_in_its_first_transaction():
    fatal = KafkaError(KafkaError._FATAL, "idempotence broken", fatal=True)
    first, second = FakeProducer(commit=fatal), FakeProducer()
    box = outbox(first, [], producer_factory=lambda: second)
    box.add(A, 0, [Out("out", b"k", b"r0")])
    with pytest.raises(TransactionAborted):
        box.commit(FakeConsumer(), offsets({A: 1}))
    assert box.state == "broken"
    assert box.commit(FakeConsumer(), offsets({A: 1})) == {A: 1}
    assert second.calls[0] == "init" and second.produced == [b"r0"] and box.resets == 1


def test_a_fenced_producer_stops_the_worker_and_dropped_partitions_are_forgotten():
    fenced = KafkaError(KafkaError._FENCED, "fenced by a newer producer", fatal=True)
    box = outbox(FakeProducer(commit=fenced), [])
    box.add(A, 0, [Out("out", b"k", b"r0")])
    box.add(B, 0, [Out("out", b"k", b"r1")])
    with pytest.raises(KafkaException):
        box.commit(FakeConsumer(), offsets({A: 1}))
    assert box.drop([A]) == 1 and box.queued() == 1


def test_a_record_refused_for_good_is_replaced_by_its_fallback_after_the_abort():
    producer, committed = FakeProducer(), []
    producer.refuse = {b"huge"}
    producer.fail["commit"] = KafkaError(
        KafkaError.MSG_SIZE_TOO_LARGE, "too large", txn_requires_abort=True
    )
    box = outbox(producer, committed)
    small = Out("dlq", b"k", b"small")
    box.add(A, 0, [Out("out", b"k", b"huge", fallback=lambda why: small)])
    with pytest.raises(TransactionAborted):
        box.commit(FakeConsumer(), offsets({A: 1}))
    assert box.commit(FakeConsumer(), offsets({A: 1})) == {A: 1}
    assert producer.produced == [b"huge", b"small"]
    assert [o.value for o in committed] == [b"small"]


def test_a_call_that_blocks_past_its_bound_abandons_the_producer(monkeypatch):
    """librdkafka's send_offsets_to_transaction can ignore its timeout (issue 5456)."""
    import threading

    from worker import transactions

    monkeypatch.setattr(transactions, "CALL_GRACE_S", 0.05)
    release = threading.Event()

    class Stuck(FakeProducer):
        def send_offsets_to_transaction(self, offsets, metadata, timeout):
            release.wait(10)  # the coordinator is gone and librdkafka waits on

    first, second = Stuck(), FakeProducer()
    box = outbox(first, [], producer_factory=lambda: second, timeout_s=0.1)
    box.add(A, 0, [Out("out", b"k", b"r0")])
    try:
        with pytest.raises(TransactionAborted, match="did not return"):
            box.commit(FakeConsumer(), offsets({A: 1}))
        assert box.state == "broken"
        assert box.commit(FakeConsumer(), offsets({A: 1})) == {A: 1}
        assert second.calls[0] == "init" and second.produced == [b"r0"]
    finally:
        release.set()


def test_a_batch_of_a_partition_revoked_meanwhile_is_not_queued():
    from worker.offsets import OffsetTracker

    tracker = OffsetTracker()
    tickets = [tracker.track_many([("in", 0, 5)])[0]]
    box = outbox(FakeProducer(), [])
    tracker.revoke({("in", 0)})
    tracker.track_many([("in", 0, 5)])[0]  # assigned back: a new ticket for the same offset
    assert not box.add(A, 5, [Out("out", b"k", b"r")], still_owned=lambda: tracker.current(tickets))
    assert box.queued() == 0
    fresh = [tracker.track_many([("in", 0, 6)])[0]]
    assert box.add(A, 6, [Out("out", b"k", b"r")], still_owned=lambda: tracker.current(fresh))
    assert box.queued() == 1
