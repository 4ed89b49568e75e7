"""The worker against a real Apache Kafka broker and a real KServe ModelServer."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from schemas import CategoryResult, DeadLetter
from schemas.dead_letter import HEADER_ERROR_CLASS, HEADER_ERROR_REASON
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    WorkerThread,
    committed,
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    value = {"product_id": pid, "title": f"Stainless steel kettle model {i}", "brand": "Acme"}
    return pid.encode(), json.dumps(value).encode()


@pytest.fixture
def topics(topic_factory):
    return tuple(topic_factory(partitions=PARTITIONS, prefix=p) for p in ("in", "out", "dlq"))


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_every_product_gets_exactly_one_label(
    kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir
):
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor_server.url,
        tiny_model_dir,
        model_name=predictor_server.model_name,
    )
    n = 300
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(n)))
    labels = set(json.loads((tiny_model_dir / "config.json").read_text())["id2label"].values())

    with running_worker(settings):
        out = consume_all(kafka_config, topics[1], expected=n, timeout=90)
        wait_committed(kafka_bootstrap, settings)

    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    ids = [r.product_id for r in results]
    assert sorted(ids) == [f"p-{i:05d}" for i in range(n)]  # all of them, once each
    assert all(m.key().decode() == r.product_id for m, r in zip(out, results, strict=True))
    assert {r.label for r in results} <= labels
    assert all(r.model_name == predictor_server.model_name and r.model_version for r in results)
    assert all(r.top_k and r.top_k[0].label == r.label for r in results)
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []


def test_an_idle_predictor_gets_a_lone_product_at_once(
    kafka_bootstrap, kafka_config, topic_factory, predictor_server, tiny_model_dir
):
    """Batches fill only behind a batch in flight. With none in flight, a lone product goes
    to the predictor as soon as it is consumed, not after ``batch_wait_ms`` (a minute here:
    a worker that waited to fill the batch would miss every deadline below)."""
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, batch_wait_ms=60_000,
    )
    with running_worker(settings):
        for i in range(3):  # one at a time, each after the previous one's label
            produce(kafka_bootstrap, topics[0], [product(i)])
            out = consume_all(kafka_config, topics[1], expected=i + 1, timeout=20)
            assert len(out) == i + 1, f"product {i} was not labelled within 20 s"
        wait_committed(kafka_bootstrap, settings, partitions=1, timeout=20)


def test_malformed_messages_are_dead_lettered_with_a_reason(
    kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir
):
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor_server.url,
        tiny_model_dir,
        model_name=predictor_server.model_name,
        max_message_bytes=2048,
    )
    bad = [
        b"not json at all",
        b"",
        b"[1,2,3]",
        json.dumps({"title": "no product id"}).encode(),
        json.dumps({"product_id": "x", "title": "   "}).encode(),
        json.dumps({"product_id": "x", "title": "t", "price": "free"}).encode(),
        json.dumps({"product_id": "x", "title": "t" * 100, "description": "d" * 4000}).encode(),
        b"\xff\xfe\xfd",
    ] * 3
    good = [product(i) for i in range(40)]
    records = [(b"bad", v) for v in bad] + good
    produce(kafka_bootstrap, topics[0], records)

    with running_worker(settings) as w:
        dead = consume_all(kafka_config, topics[2], expected=len(bad), timeout=60)
        out = consume_all(kafka_config, topics[1], expected=len(good), timeout=60)
        wait_committed(kafka_bootstrap, settings)
        metrics = (
            urllib.request.urlopen(  # noqa: S310 - loopback
                f"http://127.0.0.1:{w.worker.health.port}/metrics", timeout=5
            )
            .read()
            .decode()
        )

    assert len(dead) == len(bad)
    letters = [DeadLetter.model_validate_json(m.value()) for m in dead]
    assert sorted(v.original_value() for v in letters) == sorted(bad)
    for msg, letter in zip(dead, letters, strict=True):
        headers = dict(msg.headers())
        assert headers[HEADER_ERROR_CLASS].decode() == letter.error_class.value
        assert headers[HEADER_ERROR_REASON] and letter.reason
        assert letter.source_topic == topics[0]
    assert {letter.error_class.value for letter in letters} == {
        "invalid_json",
        "invalid_schema",
        "too_large",
    }
    assert len(out) == len(good)
    assert "catmatch_worker_dead_letters_total" in metrics
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("catmatch_worker_dead_letters_total{")
    )
    assert counted >= len(bad)  # process-wide counter: other tests may add to it


def test_a_cold_predictor_delays_work_but_loses_none(
    kafka_bootstrap, kafka_config, topics, predictor_factory, tiny_model_dir
):
    predictor = predictor_factory(start=False)  # scaled to zero: nothing listens yet
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor.url,
        tiny_model_dir,
        model_name=predictor.model_name,
        batch_size=8,
        pause_after_s=0.5,
    )
    n = 60
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(n)))

    with running_worker(settings) as w:
        # While the predictor is down nothing is produced and nothing is committed.
        wait_until(lambda: w.worker.probes.client.state == "not_ready", 30,
                   "a failed predictor call")
        assert consume_all(kafka_config, topics[1], expected=1, timeout=3) == []
        assert consume_all(kafka_config, topics[2], expected=1, timeout=1) == []
        group = settings.worker.group_id
        assert all(
            off < 0 for off in committed(kafka_bootstrap, group, topics[0], PARTITIONS).values()
        )
        assert w.worker.probes.client.state == "not_ready"
        # At capacity for a while: partitions are paused, the group is still served.
        wait_until(lambda: w.worker.probes.membership.paused, 30,
                   "the worker to pause its partitions")
        predictor.start()  # the cold start completes
        out = consume_all(kafka_config, topics[1], expected=n, timeout=120)
        wait_committed(kafka_bootstrap, settings)
        assert not w.worker.probes.membership.paused

    assert sorted(json.loads(m.value())["product_id"] for m in out) == [
        f"p-{i:05d}" for i in range(n)
    ]
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []


def test_a_fenced_static_member_stops_with_an_error(
    kafka_bootstrap, topics, predictor_server, tiny_model_dir
):
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor_server.url,
        tiny_model_dir,
        model_name=predictor_server.model_name,
    )
    first = WorkerThread(settings, "worker-a", instance_id="same-id").start()
    try:
        wait_until(lambda: first.worker.assigned, 60, "the first worker's assignment")
        second = WorkerThread(settings, "worker-b", instance_id="same-id").start()
        try:
            # The broker hands the id to the newcomer and fences the old member; the old one
            # rejoins (a broker restart fences members too), and a twin that keeps fencing
            # it makes it stop after a few rounds.
            assert first.join(60), "the fenced worker kept running"
            assert isinstance(first.error, RuntimeError)
            wait_until(lambda: second.worker.assigned, 60, "the second worker's assignment")
        finally:
            second.stop()
    finally:
        if not first.join(0):
            first.stop()
