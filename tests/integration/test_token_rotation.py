"""Rotating the predictor token while products flow: nothing refused, nothing dead-lettered.

A real predictor process reads its accepted tokens from a Secret-like directory; a real
worker (in process, worker_harness) reads its token from another. Both are updated the way
the kubelet updates a Secret volume (a ``..data`` symlink swap). The rotation is the one
docs/SECURITY.md gives operators: add the next token to the predictor, switch the worker,
see the old token's requests stop (the predictor's per-credential counter), remove it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import pipeline_settings, produce, running_worker
from toolbox.harness.children import scrape
from toolbox.harness.secret_volume import SecretVolume
from worker.metrics import METRICS

pytestmark = pytest.mark.integration

OLD, NEW = "old-token-6f1c0b7e", "new-token-93d2aa41"
PRODUCTS = 600
RATE = 60.0  # products/s: the rotation happens while they flow (~10 s)


def predictor_metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(scrape(f"{url}/metrics")):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def metadata_status(url: str, model: str, token: str) -> int:
    request = urllib.request.Request(
        f"{url}/v2/models/{model}", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def unauthorized_faults() -> float:
    return METRICS.registry.get_sample_value(
        "catmatch_worker_predictor_faults_total", {"kind": "unauthorized"}
    ) or 0.0


def test_rotating_the_token_mid_stream_refuses_no_batch(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tiny_model_dir, tmp_path
):
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    accepted_by_predictor = SecretVolume(tmp_path / "predictor-tokens")
    accepted_by_predictor.write(current=OLD)
    sent_by_worker = SecretVolume(tmp_path / "worker-token")
    sent_by_worker.write(token=OLD)
    server = predictor_factory(
        env={"CATMATCH_SERVE__TOKEN_FILE": str(accepted_by_predictor.root)}
    )
    url, model = server.url, server.model_name
    settings = pipeline_settings(
        kafka_bootstrap, topics, url, tiny_model_dir, model_name=model, batch_size=16,
    )
    settings = settings.model_copy(update={"predictor": settings.predictor.model_copy(
        update={"token_file": sent_by_worker.key("token")})})
    faults_before = unauthorized_faults()
    refused_before = predictor_metric(url, "catmatch_predictor_auth_refused_total")
    my_refusals = 0

    def probe(token: str) -> int:
        nonlocal my_refusals
        status = metadata_status(url, model, token)
        my_refusals += status == 401
        return status

    def credential_count(name: str) -> float:
        return predictor_metric(
            url, "catmatch_predictor_auth_accepted_total", credential=name
        )

    records = [
        (f"r-{i:04d}".encode(),
         json.dumps({"product_id": f"r-{i:04d}", "title": f"Oak dining table {i}"}).encode())
        for i in range(PRODUCTS)
    ]

    def paced() -> None:
        for start in range(0, PRODUCTS, 20):
            produce(kafka_bootstrap, topics[0], records[start:start + 20])
            time.sleep(20 / RATE)

    producer = threading.Thread(target=paced, daemon=True)
    with running_worker(settings):
        producer.start()
        wait_until(lambda: credential_count("current") > 0, 60, "batches with the old token")

        # 1. the predictor accepts the next token as well
        accepted_by_predictor.write(current=OLD, next=NEW)
        wait_until(lambda: probe(NEW) == 200, 10, "the next token")
        # 2. the worker switches; its requests now count under "next"
        seen_next = credential_count("next")
        sent_by_worker.write(token=NEW)
        wait_until(lambda: credential_count("next") > seen_next, 10, "the worker's new token")
        still_old = credential_count("current")
        time.sleep(1.5)  # nothing sends the old token any more
        assert credential_count("current") == still_old
        # 3. the old token goes
        accepted_by_predictor.write(next=NEW)
        wait_until(lambda: probe(OLD) == 401, 10, "the old token to go")
        assert producer.is_alive(), "the rotation should happen while products flow"
        producer.join(60)
        out = consume_all(kafka_config, topics[1], expected=PRODUCTS, timeout=120)

    assert sorted({CategoryResult.model_validate_json(m.value()).product_id for m in out}) == [
        f"r-{i:04d}" for i in range(PRODUCTS)
    ]
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []
    assert unauthorized_faults() == faults_before
    refused = predictor_metric(url, "catmatch_predictor_auth_refused_total") - refused_before
    assert refused == my_refusals  # only this test's own probes, none of the worker's
    assert OLD not in server.log_tail(10**6) and NEW not in server.log_tail(10**6)


def test_each_workers_2_child_reads_the_token_file_again(predictor_factory, tmp_path):
    """With ``--workers 2`` every child got its own copy of the token file's watcher: after a
    rotation no child keeps accepting the old token or refusing the new one."""
    accepted = SecretVolume(tmp_path / "tokens")
    accepted.write(current=OLD)
    server = predictor_factory(extra_args=["--workers", "2"],
                               env={"CATMATCH_SERVE__TOKEN_FILE": str(accepted.root)})
    url, model = server.url, server.model_name

    def all_answer(token: str, status: int, tries: int = 12) -> bool:
        return all(metadata_status(url, model, token) == status for _ in range(tries))

    assert all_answer(OLD, 200) and all_answer(NEW, 401)
    accepted.write(next=NEW)
    wait_until(lambda: all_answer(NEW, 200) and all_answer(OLD, 401), 20, "every child")
