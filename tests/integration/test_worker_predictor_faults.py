"""A predictor that refuses, fails or crawls: nothing is dead-lettered or committed for it.

The real predictor runs behind a fault-injecting proxy (tests/fixtures/faults.py); the worker
talks to the proxy as it would to an InferenceService URL behind a misbehaving ingress.
"""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from core.settings import PredictorClientSettings
from schemas import CategoryResult, DeadLetter, ErrorClass
from tests.fixtures.faults import Fault
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    committed,
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)

pytestmark = pytest.mark.integration

GUARANTEES = ["at_least_once", "exactly_once"]


def product(i: int, title: str | None = None) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    value = {"product_id": pid, "title": title or f"Oak dining table model {i}"}
    return pid.encode(), json.dumps(value).encode()


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def topics(topic_factory):
    return tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))


@pytest.mark.parametrize(
    ("status", "guarantee"),
    [(401, "at_least_once"), (403, "exactly_once"), (500, "at_least_once"),
     (500, "exactly_once")],
)
def test_a_predictor_that_refuses_everything_holds_the_stream_until_it_recovers(
    status, guarantee, kafka_bootstrap, kafka_config, topics, predictor_server,
    tiny_model_dir, fault_proxy,
):
    proxy = fault_proxy(predictor_server.url)
    proxy.set(Fault(status=status))
    settings = pipeline_settings(
        kafka_bootstrap, topics, proxy.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
    )
    n = 50
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(n)))

    with running_worker(settings) as w:
        wait_until(lambda: w.worker.probes.readiness()[1]["predictor_fault"] is not None, 30,
                   "the predictor circuit to open")
        time.sleep(3)  # the fault persists: the worker must keep holding
        ready = w.worker.probes.readiness()[1]
        assert ready["paused"] and ready["predictor"] == "failing"
        assert w.worker.probes.liveness()[0], "waiting for a faulty predictor is not being stuck"
        assert committed(kafka_bootstrap, settings.worker.group_id, topics[0], 1) == {0: -1001}
        assert consume_all(kafka_config, topics[2], expected=1, timeout=1) == []
        assert consume_all(kafka_config, topics[1], expected=1, timeout=1) == []

        proxy.set(None)  # the token is renewed / the GPU is back
        out = consume_all(kafka_config, topics[1], expected=n, timeout=90)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)
        assert w.worker.probes.readiness()[1]["predictor_fault"] is None

    assert sorted(CategoryResult.model_validate_json(m.value()).product_id for m in out) == [
        f"p-{i:05d}" for i in range(n)
    ]
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []
    assert proxy.seen[status] > 0


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_only_a_product_that_fails_alone_while_its_siblings_pass_is_dead_lettered(
    guarantee, kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir,
    fault_proxy,
):
    proxy = fault_proxy(predictor_server.url)
    # the predictor refuses any request that carries this product's text (a poison row)
    proxy.set(Fault(status=400, body="cannot handle this input", when=lambda b: b"POISON" in b))
    settings = pipeline_settings(
        kafka_bootstrap, topics, proxy.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
        input_mode="text",
    )
    records = [product(i) for i in range(40)]
    records[7] = product(7, "POISON kettle")
    records[23] = product(23, "another POISON lamp")
    produce(kafka_bootstrap, topics[0], records)

    with running_worker(settings):
        dead = consume_all(kafka_config, topics[2], expected=2, timeout=60)
        out = consume_all(kafka_config, topics[1], expected=38, timeout=60)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)

    letters = sorted((m.key(), DeadLetter.model_validate_json(m.value())) for m in dead)
    assert [k for k, _ in letters] == [b"p-00007", b"p-00023"]
    assert all(d.error_class == ErrorClass.PREDICTOR_REJECTED for _, d in letters)
    assert all("cannot handle this input" in d.reason for _, d in letters)
    assert len({m.key() for m in out}) == 38


def test_a_slow_predictor_is_waited_out_not_dead_lettered(
    kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir, fault_proxy
):
    proxy = fault_proxy(predictor_server.url)
    proxy.set(Fault(delay_s=2.0))  # longer than the worker's request timeout
    settings = pipeline_settings(
        kafka_bootstrap, topics, proxy.url, tiny_model_dir,
        model_name=predictor_server.model_name,
    )
    settings = settings.model_copy(update={"predictor": PredictorClientSettings(
        url=proxy.url, model_name=predictor_server.model_name, timeout_s=0.5,
        backoff_initial_s=0.05, backoff_max_s=0.5,
    )})
    n = 30
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(n)))
    with running_worker(settings) as w:
        wait_until(lambda: w.worker.probes.client.state == "not_ready", 30, "timeouts")
        time.sleep(2)
        assert committed(kafka_bootstrap, settings.worker.group_id, topics[0], 1) == {0: -1001}
        proxy.set(None)
        out = consume_all(kafka_config, topics[1], expected=n, timeout=60)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)
    assert len({m.key() for m in out}) == n
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []


def test_the_predictor_checks_the_token_and_a_wrong_one_holds_the_stream(
    kafka_bootstrap, kafka_config, topics, predictor_factory, tiny_model_dir
):
    server = predictor_factory(env={"CATMATCH_SERVE__TOKEN": "s3cret"})
    settings = pipeline_settings(
        kafka_bootstrap, topics, server.url, tiny_model_dir, model_name=server.model_name,
    )

    def with_token(token: str):
        return settings.model_copy(update={"predictor": settings.predictor.model_copy(
            update={"token": SecretStr(token)})})

    produce(kafka_bootstrap, topics[0], (product(i) for i in range(20)))
    with running_worker(with_token("expired")) as w:
        wait_until(lambda: w.worker.probes.readiness()[1]["predictor_fault"] == "unauthorized", 30,
                   "the worker to see 401")
        assert committed(kafka_bootstrap, settings.worker.group_id, topics[0], 1) == {0: -1001}
    assert consume_all(kafka_config, topics[2], expected=1, timeout=1) == []
    with running_worker(with_token("s3cret")):
        out = consume_all(kafka_config, topics[1], expected=20, timeout=60)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)
    assert len({m.key() for m in out}) == 20


def test_the_batch_size_follows_the_predictor_latency(
    kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir, fault_proxy
):
    proxy = fault_proxy(predictor_server.url)
    settings = pipeline_settings(
        kafka_bootstrap, topics, proxy.url, tiny_model_dir,
        model_name=predictor_server.model_name, batch_size=512, min_batch_size=4,
        target_batch_seconds=0.4, max_inflight_batches=1,
    )
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(3000)))
    with running_worker(settings) as w:
        sizer = lambda: w.worker.processor.classifier.sizer.size  # noqa: E731
        wait_until(lambda: w.worker.processor is not None and sizer() > 64, 60,
                   "the batch size to grow on a fast predictor")
        proxy.set(Fault(delay_s=1.0))  # slower than the target: shrink
        wait_until(lambda: sizer() <= 8, 60, "the batch size to shrink")
        proxy.set(None)
        wait_until(lambda: sizer() > 8, 60, "the batch size to grow again")
        out = consume_all(kafka_config, topics[1], expected=3000, timeout=120)
    assert len({m.key() for m in out}) == 3000
