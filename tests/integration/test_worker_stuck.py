"""A worker that has work and a ready predictor but makes no progress is not healthy."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from confluent_kafka import KafkaError, KafkaException

from tests.integration.worker_harness import pipeline_settings, produce, running_worker
from worker.partitions import PartitionBook

pytestmark = pytest.mark.integration


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def metric(worker, name: str) -> float:
    url = f"http://127.0.0.1:{worker.health.port}/metrics"
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():  # noqa: S310
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def healthz(worker) -> tuple[int, dict]:
    if worker.health is None or worker.health.port is None:
        return 0, {}
    url = f"http://127.0.0.1:{worker.health.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_no_commit_for_the_stall_timeout_makes_liveness_fail_and_recover(
    monkeypatch, kafka_bootstrap, topic_factory, predictor_server, tiny_model_dir
):
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, stall_timeout_s=4.0,
    )
    broken = {"on": True}
    original = PartitionBook.commit

    def commit(self, *args, **kwargs):  # a commit path that never gets through
        if broken["on"]:
            raise KafkaException(KafkaError(KafkaError.REQUEST_TIMED_OUT, "injected"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PartitionBook, "commit", commit)
    produce(kafka_bootstrap, topics[0], [
        (f"p-{i}".encode(), json.dumps({"product_id": f"p-{i}", "title": f"Lamp {i}"}).encode())
        for i in range(50)
    ])
    with running_worker(settings) as w:
        wait_until(lambda: healthz(w.worker)[0] == 503, 40, "liveness to fail")
        status, detail = healthz(w.worker)
        assert detail["stuck"] and detail["progress_stalled_s"] >= 4.0
        assert w.worker.probes.client.state == "ready"
        assert metric(w.worker, "catmatch_worker_progress_stalled") == 1.0
        broken["on"] = False
        wait_until(lambda: healthz(w.worker)[0] == 200, 40, "liveness to recover")
        wait_until(lambda: metric(w.worker, "catmatch_worker_progress_stalled") == 0.0, 10,
                   "the metric to follow")
