"""Thin asyncio wrappers over confluent-kafka's consumer and producer.

The consumer is not async in librdkafka; every call to it runs on one dedicated thread so
calls never overlap and rebalance callbacks (which librdkafka runs inside ``consume``) run
on that same thread. The producer is thread-safe: ``produce`` is called from the event
loop, a background thread serves delivery reports and turns them into futures. The sync
``Producer`` is used (not ``confluent_kafka.aio``) because dead letters carry headers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

log = logging.getLogger(__name__)

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]

# librdkafka reports these while brokers restart; they are transient, not worth an ERROR.
TRANSIENT_ERRORS = {
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TRANSPORT,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
}


def log_kafka_error(err: KafkaError) -> None:
    """librdkafka ``error_cb``: transient connection noise is a warning."""
    if err.code() in TRANSIENT_ERRORS:
        log.warning("kafka: %s", err)
    else:
        log.error("kafka: %s", err)


class AsyncConsumer:
    """A confluent-kafka ``Consumer`` whose calls run on one private thread."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._consumer = Consumer({**conf, "error_cb": log_kafka_error})
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
        return await self.call(self._consumer.consume, max_messages, timeout_s)

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


class DeliveryError(Exception):
    """The broker did not acknowledge a produced message."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(str(error))
        self.error = error


class AsyncProducer:
    """A confluent-kafka ``Producer`` whose deliveries are awaitable futures."""

    def __init__(self, conf: dict[str, Any], poll_interval_s: float = 0.05) -> None:
        self._producer = Producer({**conf, "error_cb": log_kafka_error})
        self._poll_interval_s = poll_interval_s
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-producer", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(self._poll_interval_s)

    async def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Message]:
        """Queue one message; the returned future resolves when the broker acknowledges it."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_settle, fut, err, msg)

        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
                return fut
            except BufferError:
                # Local queue full: give the poll thread time to drain it.
                await asyncio.sleep(self._poll_interval_s)
            except KafkaException as exc:
                fut.set_exception(DeliveryError(exc.args[0]))
                return fut

    async def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return await asyncio.to_thread(self._producer.flush, timeout_s)

    async def close(self, timeout_s: float = 30.0) -> None:
        remaining = await self.flush(timeout_s)
        if remaining:
            log.warning("producer closed with %d undelivered messages", remaining)
        self._stopping.set()
        await asyncio.to_thread(self._poller.join)
        # Drop the handle so librdkafka tears the client down now, not at garbage collection.
        del self._producer


def _settle(fut: asyncio.Future[Message], err: KafkaError | None, msg: Message) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(DeliveryError(err))
    else:
        fut.set_result(msg)
