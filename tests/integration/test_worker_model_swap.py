"""Promote a new model version while products flow: labels switch version, none lost or failed.

The predictor follows the store alias ``dev``; the worker takes its tokenizer from the same
store and pins every request to the version it tokenized for. The two versions have
different label sets, so every result shows which version produced it.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from core.settings import ModelStoreSettings
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.fixtures.predictor import BETA_LABELS
from tests.integration.worker_harness import pipeline_settings, produce, running_worker

pytestmark = pytest.mark.integration

NAME = "category-match"
N = 400


def test_promotion_while_messages_flow(
    kafka_bootstrap,
    kafka_config,
    topic_factory,
    two_version_store,
    tiny_model_dir,
    predictor_factory,
):
    store = two_version_store
    topics = tuple(topic_factory(partitions=2, prefix=p) for p in ("in", "out", "dlq"))
    predictor = predictor_factory(
        model_name=NAME,
        extra_args=[
            "--store",
            store.uri,
            "--store-name",
            NAME,
            "--model-ref",
            "dev",
            "--poll-interval",
            "0.2",
        ],
    )
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor.url,
        tiny_model_dir,
        model_name=NAME,
        model_ref="dev",
        batch_size=16,
    ).model_copy(update={"models": ModelStoreSettings(store_uri=store.uri, name=NAME)})
    labels = {
        "v1": set(json.loads((tiny_model_dir / "config.json").read_text())["id2label"].values()),
        "v2": set(BETA_LABELS),
    }
    records = [
        (
            f"p-{i:04d}".encode(),
            json.dumps({"product_id": f"p-{i:04d}", "title": f"Garden hose {i} m"}).encode(),
        )
        for i in range(N)
    ]

    def trickle() -> None:  # ~4 s of traffic, so the promotion lands mid-stream
        for start in range(0, N, 20):
            produce(kafka_bootstrap, topics[0], records[start : start + 20])
            time.sleep(0.1)

    with running_worker(settings) as w:
        producer = threading.Thread(target=trickle)
        producer.start()
        consume_all(kafka_config, topics[1], expected=N // 4, timeout=90)
        store.promote(NAME, "v2", "dev", actor="test")
        producer.join(120)
        out = consume_all(kafka_config, topics[1], expected=N, timeout=120)
        dead = consume_all(kafka_config, topics[2], expected=1, timeout=2)
        assert w.worker.probes.client.state == "ready"

    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    assert sorted(r.product_id for r in results) == [f"p-{i:04d}" for i in range(N)]
    assert dead == []
    assert {r.model_version for r in results} == {"v1", "v2"}
    for r in results:  # tokenizer, model and labels always from one version
        assert r.label in labels[r.model_version]
    last = {}
    for r in results:  # the newest result of each partition comes from the promoted model
        if r.source_offset >= last.get(r.source_partition, r).source_offset:
            last[r.source_partition] = r
    assert {r.model_version for r in last.values()} == {"v2"}
