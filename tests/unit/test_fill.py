"""A batch filled over several consume calls keeps only what is still this worker's."""

from __future__ import annotations

import asyncio

from confluent_kafka import Message

from worker.delivery import AtLeastOnce
from worker.intake import still_ours
from worker.offsets import OffsetTracker
from worker.partitions import PartitionBook


def new_book() -> PartitionBook:
    tracker = OffsetTracker()
    return PartitionBook(tracker, AtLeastOnce({}, asyncio.Event()), "worker-0", 3)


def msg(partition: int, offset: int) -> Message:
    return Message(topic="in", partition=partition, offset=offset, value=b"{}")


def test_messages_of_a_partition_revoked_after_they_were_consumed_are_left_to_its_next_owner(
) -> None:
    book = new_book()
    book.assigned = {("in", 0), ("in", 1)}
    slices = [([msg(0, 5), msg(1, 5)], book.forgets)]
    book.forget({("in", 0)})  # a rebalance served in the next consume call
    slices.append(([msg(1, 6)], book.forgets))
    book.assigned.add(("in", 0))  # ... and partition 0 assigned back: its stream restarts
    slices.append(([msg(0, 3)], book.forgets))

    kept = still_ours(book, slices)

    # 0@5 came from the assignment that was revoked: consumed again from the committed
    # offset (0@3 onwards) by the new one. Partition 1 was never revoked.
    assert [(m.partition(), m.offset()) for m in kept] == [(1, 5), (1, 6), (0, 3)]


def test_without_a_rebalance_every_message_is_kept_in_order() -> None:
    book = new_book()
    slices = [([msg(0, 1), msg(0, 2)], book.forgets), ([msg(0, 3)], book.forgets)]
    kept = still_ours(book, slices)
    assert [m.offset() for m in kept] == [1, 2, 3]
