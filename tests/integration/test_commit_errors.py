"""A commit the broker refuses for one partition is not counted as committed for it.

The broker answers an OffsetCommit per partition. Here partition 0's offset carries metadata
over the broker's ``offset.metadata.max.bytes`` (4096 by default), so the broker refuses
that partition (``OFFSET_METADATA_TOO_LARGE``) and accepts partition 1 in the same request.
"""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer, TopicPartition

from worker.delivery import AtLeastOnce
from worker.metrics import METRICS
from worker.offsets import OffsetTracker
from worker.partitions import PartitionBook

pytestmark = pytest.mark.integration

OVERSIZED = "x" * 5000  # > offset.metadata.max.bytes


def committed(consumer: Consumer, topic: str) -> dict[int, int]:
    answer = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    return {tp.partition: tp.offset for tp in answer}


@pytest.fixture
def consumer(kafka_config, group_id):
    c = Consumer({**kafka_config, "group.id": group_id, "enable.auto.commit": False})
    yield c
    c.close()


def test_the_strategy_reports_only_the_partitions_the_broker_accepted(consumer, topic_factory):
    topic = topic_factory(partitions=2)
    strategy = AtLeastOnce({}, asyncio.Event())
    refused_before = METRICS.commit_errors._value.get()

    accepted = strategy.commit(consumer, [
        TopicPartition(topic, 0, 7, metadata=OVERSIZED),
        TopicPartition(topic, 1, 9),
    ])

    assert accepted == {(topic, 1): 9}
    assert METRICS.commit_errors._value.get() == refused_before + 1
    assert committed(consumer, topic) == {0: -1001, 1: 9}  # -1001: nothing committed


def test_a_refused_partition_is_offered_again_at_the_next_commit(
    consumer, topic_factory, monkeypatch
):
    topic = topic_factory(partitions=2)
    tracker = OffsetTracker()
    book = PartitionBook(tracker, AtLeastOnce({}, asyncio.Event()), "worker-0", 3)
    book.assigned = {(topic, 0), (topic, 1)}
    tracker.done(tracker.track_many([(topic, 0, 0), (topic, 0, 1), (topic, 1, 0)]))
    original = PartitionBook._offset

    def oversized_for_partition_0(self, tp, position):
        offset = original(self, tp, position)
        if tp[1] == 0 and refuse:
            return TopicPartition(tp[0], tp[1], position, metadata=OVERSIZED)
        return offset

    monkeypatch.setattr(PartitionBook, "_offset", oversized_for_partition_0)

    refuse = True
    assert book.commit(consumer) == {(topic, 1): 1}
    # Partition 0 is not marked committed: its position is still waiting to be committed.
    assert tracker.commit_positions() == {(topic, 0): 2}

    refuse = False  # e.g. the broker's limit raised, or the record that made it healed
    assert book.commit(consumer) == {(topic, 0): 2}
    assert tracker.commit_positions() == {}
    assert committed(consumer, topic) == {0: 2, 1: 1}
