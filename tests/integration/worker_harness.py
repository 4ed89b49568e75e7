"""Run a real Worker on a background thread against the real broker and predictor."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from core.settings import (
    KafkaSettings,
    PredictorClientSettings,
    Settings,
    TopicSettings,
    WorkerSettings,
)
from worker.app import Worker


def pipeline_settings(
    bootstrap: str,
    topics: tuple[str, str, str],
    predictor_url: str,
    model_dir: Path,
    model_name: str = "category-match",
    **worker: object,
) -> Settings:
    """Settings for one test: its own topics and consumer group."""
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap),
        topics=TopicSettings(input=topics[0], output=topics[1], dead_letter=topics[2]),
        predictor=PredictorClientSettings(
            url=predictor_url, model_name=model_name, backoff_initial_s=0.05, backoff_max_s=0.5
        ),
        worker=WorkerSettings(
            **{
                "group_id": f"g-{uuid.uuid4().hex[:8]}",
                "tokenizer_path": model_dir / "tokenizer.json",
                "metrics_port": 0,
                "batch_size": 32,
                "commit_interval_ms": 50,
                **worker,
            }
        ),
    )


class WorkerThread:
    """A Worker running its own event loop on a thread."""

    def __init__(
        self, settings: Settings, worker_id: str = "worker-0", instance_id: str | None = None
    ) -> None:
        self.worker = Worker(settings, worker_id, instance_id=instance_id, metrics_port=0)
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.worker.run())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc

    def join(self, timeout: float) -> bool:
        """Wait for the worker to exit on its own; ``True`` if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def start(self) -> WorkerThread:
        """Start the worker; returns once it has built its parts (its probes answer)."""
        self._thread.start()
        deadline = time.monotonic() + 60
        while self.worker.probes is None and self._thread.is_alive():
            assert time.monotonic() < deadline, "the worker did not start within 60 s"
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "worker did not stop"
        if self.error is not None:
            raise self.error


@contextmanager
def running_worker(settings: Settings) -> Iterator[WorkerThread]:
    thread = WorkerThread(settings).start()
    try:
        yield thread
    finally:
        thread.stop()


def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Produce (key, value) pairs and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    count = 0
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        count += 1
        producer.poll(0)
    assert producer.flush(30) == 0
    return count


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    """Committed positions of ``group`` and the end offsets, per partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"w-{uuid.uuid4().hex}"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def wait_committed(
    bootstrap: str, settings: Settings, partitions: int = 2, timeout: float = 30.0
) -> dict[int, int]:
    """Block until the group's committed positions reach the input's end offsets."""
    topic = settings.topics.input
    want = end_offsets(bootstrap, topic, partitions)
    deadline = time.monotonic() + timeout
    got: dict[int, int] = {}
    while time.monotonic() < deadline:
        got = committed(bootstrap, settings.worker.group_id, topic, partitions)
        if got == want:
            return got
        time.sleep(0.2)
    raise AssertionError(f"committed {got}, end offsets {want}")
