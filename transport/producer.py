"""Producing records: one queueing loop for every producer, and the worker's async producer.

:func:`queue_records` is the only place a record is handed to librdkafka. It is a generator
that yields whenever librdkafka's local queue is full, so each caller waits its own way:
the event loop with ``await asyncio.sleep`` (:class:`AsyncProducer`), the transactional
producer on the consumer thread with ``producer.poll`` (``worker.transactions``).

:class:`AsyncProducer` is a confluent-kafka ``Producer`` whose deliveries are awaited: a
background thread serves delivery reports. The sync ``Producer`` is used (not
``confluent_kafka.aio``) because dead letters carry headers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from transport.clients import new_producer

log = logging.getLogger(__name__)

# Kafka record headers as librdkafka takes them.
Headers = list[tuple[str, str | bytes | None]]
# (topic, key, value, headers)
Record = tuple[str, bytes | None, bytes, Headers | None]
# librdkafka's delivery report: (error or None, the message or None)
OnDelivery = Callable[[KafkaError | None, Message | None], None]
# How long a synchronous caller lets librdkafka send while its local queue is full.
QUEUE_FULL_WAIT_S = 0.05


def queue_records(
    producer: Producer,
    records: Sequence[Record],
    on_delivery: Callable[[int], OnDelivery | None],
    on_refused: Callable[[int, KafkaError], Record | None],
) -> Iterator[None]:
    """Hand ``records`` to librdkafka in order; yields each time its local queue is full.

    The caller lets librdkafka send some (sleep, or ``poll``) and goes on iterating; the
    same record is then offered again. ``on_delivery(i)`` is the delivery callback of record
    ``i``. A record refused before it is sent (e.g. larger than ``message.max.bytes``) goes
    to ``on_refused(i, error)``, which returns a record to queue in its place, or ``None``
    to go on without it (it may also raise).
    """
    produce = producer.produce
    for index, record in enumerate(records):
        current: Record | None = record
        while current is not None:
            topic, key, value, headers = current
            try:
                produce(topic, value, key, headers=headers, on_delivery=on_delivery(index))
                break
            except BufferError:
                yield
            except KafkaException as exc:
                current = on_refused(index, exc.args[0])


def produce_waiting(
    producer: Producer, record: Record, on_delivery: OnDelivery | None = None
) -> None:
    """Queue one record from synchronous code, serving delivery reports (``poll``) while
    librdkafka's local queue is full.

    Raises:
        KafkaException: the record was refused before it was sent (e.g. too large).
    """

    def refused(_index: int, error: KafkaError) -> Record | None:
        raise KafkaException(error)

    for _full in queue_records(producer, [record], lambda _: on_delivery, refused):
        producer.poll(QUEUE_FULL_WAIT_S)


class AsyncProducer:
    """A confluent-kafka ``Producer`` whose deliveries are awaited as batches."""

    def __init__(self, conf: dict[str, Any], poll_interval_s: float = 0.05) -> None:
        self._producer = new_producer(conf)
        self._poll_interval_s = poll_interval_s
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-producer", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            self._producer.poll(self._poll_interval_s)

    async def produce_many(self, records: Sequence[Record]) -> list[KafkaError | None]:
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

        def refused(index: int, err: KafkaError) -> None:
            delivered(index, err, None)

        queued = queue_records(self._producer, records, lambda i: partial(delivered, i), refused)
        for _full in queued:
            await asyncio.sleep(self._poll_interval_s)  # the poll thread drains the queue
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
