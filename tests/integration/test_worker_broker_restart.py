"""The broker is SIGKILLed mid-stream and restarted on the same data dir: the workers must
resume by themselves, with nothing lost (and, under exactly-once, nothing duplicated for a
read_committed reader)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import load_settings
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import pipeline_settings, produce, running_worker
from transport.admin import TopicSpec, ensure_topics
from transport.broker import EmbeddedKafka
from transport.broker.config import free_ports

pytestmark = pytest.mark.integration

PARTITIONS = 2
N = 1500
READ_COMMITTED = {"isolation.level": "read_committed"}


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    """A broker of this test's own, on fixed ports, so it can be killed and restarted."""
    port, controller_port = free_ports("127.0.0.1", 2)
    kafka = EmbeddedKafka(
        load_settings().broker, data_dir=tmp_path / "kafka", port=port,
        controller_port=controller_port, num_partitions=PARTITIONS,
    )
    kafka.start(timeout=120)
    try:
        yield kafka
    finally:
        kafka.stop()


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    return pid.encode(), json.dumps({"product_id": pid, "title": f"Desk lamp {i}"}).encode()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_workers_resume_after_the_broker_is_killed_and_restarted(
    guarantee, own_broker, predictor_server, tiny_model_dir
):
    bootstrap = own_broker.bootstrap_servers
    conf = {"bootstrap.servers": bootstrap}
    topics = ("in", "out", "dlq")
    ensure_topics(conf, [TopicSpec(t, partitions=PARTITIONS) for t in topics], timeout=60)
    settings = pipeline_settings(
        bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
        batch_size=16, transaction_timeout_s=10.0, stall_timeout_s=60.0,
    )
    produce(bootstrap, topics[0], (product(i) for i in range(N)))

    with running_worker(settings) as w:
        before = consume_all(conf, topics[1], expected=200, timeout=60, extra_conf=READ_COMMITTED)
        assert len(before) >= 200
        own_broker.kill()
        time.sleep(2.0)
        killed_at = time.monotonic()
        own_broker.start(timeout=120)
        ids = distinct_results(conf, topics[1], N, timeout=180)
        recovered_s = time.monotonic() - killed_at
        assert w.error is None and w.worker.probes.liveness()[0]

    assert len(ids) == N, f"{N - len(ids)} products lost ({recovered_s:.0f} s after restart)"
    if guarantee == "exactly_once":
        assert sum(ids.values()) == N, f"duplicates: {sum(ids.values()) - N}"


def distinct_results(conf: dict, topic: str, n: int, timeout: float) -> Counter[str]:
    """Product ids of the committed results, read until ``n`` distinct ones are there."""
    deadline = time.monotonic() + timeout
    ids: Counter[str] = Counter()
    while time.monotonic() < deadline:
        out = consume_all(conf, topic, expected=10 * n, timeout=5, extra_conf=READ_COMMITTED)
        ids = Counter(json.loads(m.value())["product_id"] for m in out)
        if len(ids) >= n:
            break
    return ids
