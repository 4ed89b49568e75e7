"""The worker's consumer: a confluent-kafka ``Consumer`` whose calls run on one thread.

The consumer is not async in librdkafka; every call to it runs on one dedicated thread so
calls never overlap and rebalance callbacks (which librdkafka runs inside ``consume``) run
on that same thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from transport.access import classify
from transport.clients import new_consumer
from transport.errors import KafkaAccessDenied, TopicError
from transport.threads import SerialThread

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 30.0

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]


def position(msg: Message) -> tuple[str, int, int]:
    """``(topic, partition, offset)`` of a consumed message (never ``None`` for one)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message: no topic, partition or offset")
    return topic, partition, offset


def skip_read_error(
    error: KafkaError | None, topic: str, conf: Mapping[str, Any] | None = None
) -> bool:
    """For readers of a topic: ``True`` to skip a message that carries a transient error
    (logged); raises :class:`~transport.errors.TopicError` for a fatal one or a topic gone,
    :class:`~transport.errors.KafkaAccessDenied` when this user may not read the topic.

    A reader assigns its partitions and never uses its (random) consumer group, so the
    broker's refusal to find a coordinator for that group is skipped quietly: readers need
    no group ACL.
    """
    if error is None:
        return False
    code = error.code()
    if code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        log.debug("reading %s: %s (the reader's group is never used)", topic, error.str())
        return True
    if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        denial = classify(error, conf or {}, topic=topic, operation="read")
        raise KafkaAccessDenied(denial.message if denial else f"reading {topic}: {error.str()}")
    if error.fatal() or code == KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise TopicError(f"reading {topic}: {error.str()}")
    log.warning("reading %s: %s", topic, error.str())
    return True


class AsyncConsumer:
    """A confluent-kafka ``Consumer`` whose calls run on one private thread."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self._thread = SerialThread("kafka-consumer")
        self._consumer = new_consumer(conf)
        self._closed = False

    @property
    def raw(self) -> Consumer:
        """The underlying consumer. Use only from rebalance callbacks (consumer thread)."""
        return self._consumer

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the consumer thread (serialised with every other consumer call)."""
        return await asyncio.wrap_future(self._thread.submit(lambda: fn(*args, **kwargs)))

    async def subscribe(
        self,
        topics: Sequence[str],
        on_assign: RebalanceCallback,
        on_revoke: RebalanceCallback,
        on_lost: RebalanceCallback,
    ) -> None:
        await self.call(
            self._consumer.subscribe,
            list(topics),
            on_assign=on_assign,
            on_revoke=on_revoke,
            on_lost=on_lost,
        )

    async def consume(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Up to ``max_messages``, returning early once that many are available."""
        messages: list[Message] = await self.call(
            self._consumer.consume, max_messages, timeout_s
        )
        return messages

    async def backlog(self) -> int:
        """Messages in the assigned partitions not consumed yet: the high watermark minus the
        position (or, before the first fetch, minus the committed offset). Watermarks come
        from the last fetch, or from the broker (bounded) when there was none."""
        value: int = await self.call(self._backlog)
        return value

    def _backlog(self) -> int:
        assignment = self._consumer.assignment()
        if not assignment:
            return 0
        total = 0
        unknown = []
        for tp in self._consumer.position(assignment):
            high = self._high(tp)
            if high < 0:
                continue
            if tp.offset is not None and tp.offset >= 0:
                total += max(high - tp.offset, 0)
            else:
                unknown.append((tp, high))
        if unknown:  # not fetched since assigned (perhaps paused): compare with commits
            try:
                committed = self._consumer.committed([tp for tp, _ in unknown], timeout=2.0)
            except KafkaException:
                return total
            for (_, high), tp in zip(unknown, committed, strict=True):
                if tp.offset is not None and tp.offset >= 0:
                    total += max(high - tp.offset, 0)
        return total

    def _high(self, tp: TopicPartition) -> int:
        _, high = self._consumer.get_watermark_offsets(tp, cached=True)
        if high >= 0:
            return int(high)
        try:
            _, high = self._consumer.get_watermark_offsets(tp, timeout=2.0, cached=False)
        except KafkaException:
            return -1
        return int(high)

    async def pause_all(self) -> None:
        await self.call(lambda: self._consumer.pause(self._consumer.assignment()))

    async def resume_all(self) -> None:
        await self.call(lambda: self._consumer.resume(self._consumer.assignment()))

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Leave the group (commits are done by the caller before this), within a bound: a
        consumer that cannot reach its coordinator is left behind rather than waited for."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self.call(self._consumer.close), timeout_s)
        except TimeoutError:
            log.warning("the consumer did not close within %.0f s; leaving it behind", timeout_s)
        finally:
            self._thread.shutdown(timeout=0)

    async def reopen(self, close_timeout_s: float = 10.0) -> None:
        """Close this consumer (bounded) and continue with a new one of the same config, on a
        new thread (the old one may still be stuck in ``close``). The caller subscribes again."""
        await self.close(close_timeout_s)
        self._thread = SerialThread("kafka-consumer")
        self._consumer = new_consumer(self.conf)
        self._closed = False
