"""transport.metadata.committed_offsets: a moving or loading group coordinator is asked
again until the timeout; anything else, or a coordinator that never settles, is an error."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from transport import metadata
from transport.errors import KafkaUnreachable


class _Consumer:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.asked = 0
        self.closed = False

    def committed(self, partitions: list[TopicPartition], timeout: float) -> Any:
        assert timeout > 0
        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        if isinstance(answer, KafkaError):
            raise KafkaException(answer)
        return answer

    def close(self) -> None:
        self.closed = True


def _with(monkeypatch: pytest.MonkeyPatch, answers: list[Any]) -> _Consumer:
    consumer = _Consumer(answers)
    monkeypatch.setattr(metadata, "new_consumer", lambda conf, quiet: consumer)
    monkeypatch.setattr(metadata, "COORDINATOR_RETRY_S", 0.01)
    return consumer


def test_a_coordinator_that_moves_or_loads_is_asked_again(monkeypatch: pytest.MonkeyPatch):
    consumer = _with(monkeypatch, [
        KafkaError(KafkaError.NOT_COORDINATOR),
        KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS),
        [TopicPartition("in", 0, 20)],
    ])
    got = metadata.committed_offsets({}, "g", [TopicPartition("in", 0)], timeout=5)
    assert got == {("in", 0): 20}
    assert consumer.asked == 3 and consumer.closed


def test_a_coordinator_that_never_settles_is_unreachable(monkeypatch: pytest.MonkeyPatch):
    consumer = _with(monkeypatch, [KafkaError(KafkaError.NOT_COORDINATOR)])
    with pytest.raises(KafkaUnreachable, match="not answered within 0.2 s"):
        metadata.committed_offsets({}, "g", [TopicPartition("in", 0)], timeout=0.2)
    assert consumer.asked > 1 and consumer.closed


def test_other_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch):
    consumer = _with(monkeypatch, [KafkaError(KafkaError._TRANSPORT)])
    with pytest.raises(KafkaUnreachable):
        metadata.committed_offsets({}, "g", [TopicPartition("in", 0)], timeout=5)
    assert consumer.asked == 1 and consumer.closed
