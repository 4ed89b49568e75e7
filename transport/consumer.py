"""The worker's consumer: a confluent-kafka ``Consumer`` whose calls run on one thread.

The consumer is not async in librdkafka; every call to it runs on one dedicated thread so
calls never overlap and rebalance callbacks (which librdkafka runs inside ``consume``) run
on that same thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from transport.clients import new_consumer

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]


def position(msg: Message) -> tuple[str, int, int]:
    """``(topic, partition, offset)`` of a consumed message (never ``None`` for one)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("not a consumed message: no topic, partition or offset")
    return topic, partition, offset


class AsyncConsumer:
    """A confluent-kafka ``Consumer`` whose calls run on one private thread."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer = new_consumer(conf)
        self._closed = False

    @property
    def raw(self) -> Consumer:
        """The underlying consumer. Use only from rebalance callbacks (consumer thread)."""
        return self._consumer

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the consumer thread (serialised with every other consumer call)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

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

    async def pause_all(self) -> None:
        await self.call(lambda: self._consumer.pause(self._consumer.assignment()))

    async def resume_all(self) -> None:
        await self.call(lambda: self._consumer.resume(self._consumer.assignment()))

    async def close(self) -> None:
        """Leave the group (commits are done by the caller before this)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.call(self._consumer.close)
        finally:
            self._executor.shutdown(wait=True)
