"""The transactional outbox: which batches a transaction holds, and what an abort leaves."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from confluent_kafka import KafkaError, KafkaException

from core.settings import Settings
from worker.transactions import Entry, TransactionAborted, TransactionalOutbox, select

A, B = ("in", 0), ("in", 1)


@dataclass(frozen=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None


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
    """Records the transactional calls; fails commit_transaction when told to."""

    def __init__(self, fail_commit: KafkaError | None = None) -> None:
        self.calls: list[str] = []
        self.produced: list[bytes] = []
        self.fail_commit = fail_commit

    def begin_transaction(self):
        self.calls.append("begin")

    def produce(self, topic, value=None, key=None, headers=None):
        self.produced.append(value)

    def send_offsets_to_transaction(self, offsets, metadata, timeout):
        self.calls.append(f"offsets {[(o.partition, o.offset) for o in offsets]}")

    def commit_transaction(self, timeout):
        if self.fail_commit is not None:
            error, self.fail_commit = self.fail_commit, None
            raise KafkaException(error)
        self.calls.append("commit")

    def abort_transaction(self, timeout):
        self.calls.append("abort")

    def flush(self, timeout):
        return 0


class FakeConsumer:
    def consumer_group_metadata(self):
        return object()


def outbox(producer: FakeProducer, committed: list) -> TransactionalOutbox:
    return TransactionalOutbox(
        Settings(), "t-1", producer=producer, on_committed=committed.append
    )


def test_a_transaction_holds_the_selected_outputs_and_the_offsets():
    producer, committed = FakeProducer(), []
    box = outbox(producer, committed)
    box.add(A, 1, [Out("out", b"a0", b"r0"), Out("dlq", b"a1", b"d1")])
    box.add(A, 3, [Out("out", b"a2", b"r2"), Out("out", b"a3", b"r3")])
    assert box.commit(FakeConsumer(), {A: 2}) == {A: 2}
    assert producer.calls == ["begin", "offsets [(0, 2)]", "commit"]
    assert producer.produced == [b"r0", b"d1"]
    assert [o.value for o in committed] == [b"r0", b"d1"]
    assert box.queued() == 1  # offsets 2-3 wait for a later transaction


def test_an_aborted_transaction_keeps_its_batches_for_the_next_one():
    abortable = KafkaError(KafkaError._TIMED_OUT, "commit timed out", txn_requires_abort=True)
    producer, committed = FakeProducer(fail_commit=abortable), []
    box = outbox(producer, committed)
    box.add(A, 0, [Out("out", b"k", b"r0")])
    with pytest.raises(TransactionAborted):
        box.commit(FakeConsumer(), {A: 1})
    assert producer.calls[-1] == "abort" and committed == [] and box.queued() == 1
    box.commit(FakeConsumer(), {A: 1})
    assert producer.produced == [b"r0", b"r0"]  # again, in the new transaction
    assert [o.value for o in committed] == [b"r0"] and box.queued() == 0


def test_a_fatal_error_propagates_and_dropped_partitions_are_forgotten():
    fenced = KafkaError(KafkaError._FENCED, "fenced by a newer producer", fatal=True)
    box = outbox(FakeProducer(fail_commit=fenced), [])
    box.add(A, 0, [Out("out", b"k", b"r0")])
    box.add(B, 0, [Out("out", b"k", b"r1")])
    with pytest.raises(KafkaException):
        box.commit(FakeConsumer(), {A: 1})
    assert box.drop([A]) == 1 and box.queued() == 1


def test_a_transaction_that_cannot_be_aborted_asks_for_a_restart():
    from worker.transactions import TransactionStuck

    class NoAbort(FakeProducer):
        def abort_transaction(self, timeout):
            raise KafkaException(KafkaError(KafkaError._STATE, "broken"))

    producer = NoAbort(fail_commit=KafkaError(KafkaError._TIMED_OUT, "slow"))
    box = outbox(producer, [])
    box.add(A, 0, [Out("out", b"k", b"r0")])
    with pytest.raises(TransactionStuck):
        box.commit(FakeConsumer(), {A: 1})
    assert box.queued() == 1
