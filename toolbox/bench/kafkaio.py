"""Products in, results out: a paced producer and a collector of result timestamps.

Every product carries its send time as ``event_time``; the collector keeps, per product id
(the result's key), the broker timestamp of its first result. End-to-end latency is the
difference (both are wall clock on this machine), throughput the span of result timestamps.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from toolbox.bench.texts import product_bytes
from toolbox.errors import ToolboxError
from toolbox.harness.children import ChildProcess
from transport.producer import produce_waiting


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def client_conf(conn: str | Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka connection settings: ``bootstrap.servers`` for a plain broker's address, or
    a secured broker's user (:attr:`toolbox.bench.stack.BenchStack.client_conf`)."""
    return {"bootstrap.servers": conn} if isinstance(conn, str) else dict(conn)


def send(
    bootstrap: str | Mapping[str, Any], topic: str, prefix: str, offsets_s: Sequence[float], *,
    unique_titles: bool = False, start_n: int = 0,
) -> dict[str, float]:
    """Produce product ``i`` at ``offsets_s[i]`` seconds from now (0s: as fast as possible).

    Returns the send time (epoch seconds, also its ``event_time``) per product id.
    """
    # Not idempotent: an idempotent producer holds its first records until it has a producer
    # id, and that wait (~0.5 s here) would count as the pipeline's latency. The connection
    # and the topic's metadata are made before the clock starts, for the same reason.
    producer = Producer({
        **client_conf(bootstrap), "acks": "all", "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
    })
    producer.list_topics(topic, timeout=10)
    sent: dict[str, float] = {}
    t0 = time.time()
    for i, at in enumerate(offsets_s):
        delay = t0 + at - time.time()
        if delay > 0.001:
            producer.poll(0)
            time.sleep(delay)
        now = time.time()
        pid = f"{prefix}-{start_n + i}"
        value = product_bytes(pid, start_n + i, iso(now), unique_title=unique_titles)
        produce_waiting(producer, (topic, pid.encode(), value, None))
        sent[pid] = now
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(120) != 0:
        raise ToolboxError(f"products to {topic} not all acknowledged")
    return sent


class Collector:
    """Reads the result topic from the beginning on a thread: first result per product."""

    def __init__(self, bootstrap: str | Mapping[str, Any], topic: str) -> None:
        self.first: dict[str, int] = {}  # product id -> broker timestamp (ms)
        self.duplicates = 0
        self._consumer = Consumer({
            **client_conf(bootstrap), "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False, "fetch.wait.max.ms": 50,
        })
        self._consumer.assign([TopicPartition(topic, 0, 0)])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bench-collector", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for msg in self._consumer.consume(10_000, 0.1):
                if msg.error():
                    continue
                key = (msg.key() or b"").decode()
                with self._lock:
                    if key in self.first:
                        self.duplicates += 1
                    else:
                        self.first[key] = msg.timestamp()[1]

    def count(self, ids: Sequence[str] | dict[str, float]) -> int:
        with self._lock:
            return sum(1 for pid in ids if pid in self.first)

    def size(self) -> int:
        """Products with a result so far."""
        with self._lock:
            return len(self.first)

    def wait(self, ids: dict[str, float], timeout_s: float, label: str,
             alive: Sequence[ChildProcess] = ()) -> dict[str, int]:
        """Until every id in ``ids`` has a result; a progress line on stderr meanwhile.

        Raises :class:`~toolbox.errors.ToolboxError` on timeout, and
        :class:`~toolbox.errors.HarnessError` when a process of ``alive`` exits.
        """
        deadline = time.monotonic() + timeout_s
        total = len(ids)
        got = 0
        while time.monotonic() < deadline:
            got = self.count(ids)
            progress(label, got, total)
            if got >= total:
                break
            for proc in alive:
                proc.check()
            time.sleep(0.25)
        progress(label, got, total, end=True)
        if got < total:
            raise ToolboxError(f"{label}: only {got} of {total} results within {timeout_s:.0f}s")
        with self._lock:
            return {pid: self.first[pid] for pid in ids}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


_LAST: list[object] = [None]


def progress(label: str, done: int, total: int, end: bool = False) -> None:
    """A plain-text progress bar on stderr (redrawn only when it changes)."""
    if (label, done, end) == _LAST[0]:
        return
    _LAST[0] = (label, done, end)
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    sys.stderr.write(f"\r  {label:<34} [{bar}] {done}/{total}")
    if end:
        sys.stderr.write("\n")
    sys.stderr.flush()
