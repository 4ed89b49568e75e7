"""The worker's producer: a confluent-kafka ``Producer`` whose deliveries are futures.

The producer is thread-safe: ``produce`` is called from the event loop, a background thread
serves delivery reports and turns them into asyncio futures. The sync ``Producer`` is used
(not ``confluent_kafka.aio``) because dead letters carry headers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from transport.clients import new_producer

log = logging.getLogger(__name__)

# Kafka record headers as librdkafka takes them.
Headers = list[tuple[str, str | bytes | None]]
# (topic, key, value, headers)
Record = tuple[str, bytes | None, bytes, Headers | None]


class DeliveryError(Exception):
    """The broker did not acknowledge a produced message."""

    def __init__(self, error: KafkaError) -> None:
        super().__init__(str(error))
        self.error = error


class AsyncProducer:
    """A confluent-kafka ``Producer`` whose deliveries are awaitable futures."""

    def __init__(self, conf: dict[str, Any], poll_interval_s: float = 0.05) -> None:
        self._producer = new_producer(conf)
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
        headers: Headers | None = None,
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

    async def produce_many(
        self, records: Sequence[Record]
    ) -> list[KafkaError | None]:
        """Produce ``records`` and wait until the broker has answered for all of them.

        One future for the whole batch (not one per record, which would cost an event-loop
        callback per message). Returns, in order, ``None`` for each acknowledged record and
        the error for each refused one.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        errors: list[KafkaError | None] = [None] * len(records)
        acked = itertools.count(1)  # next() is atomic: callbacks may come from two threads

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        def delivered(index: int, err: KafkaError | None, _msg: Message | None) -> None:
            if err is not None:
                errors[index] = err
            if next(acked) == len(records):
                loop.call_soon_threadsafe(settle)

        produce = self._producer.produce
        for index, (topic, key, value, headers) in enumerate(records):
            callback = partial(delivered, index)
            while True:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=callback)
                    break
                except BufferError:  # the local queue is full: let the poll thread drain it
                    await asyncio.sleep(self._poll_interval_s)
                except KafkaException as exc:  # refused before sending (e.g. too large)
                    callback(exc.args[0], None)
                    break
        if records:
            await done
        return errors

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
