"""Workers in front of an sklearn predictor: raw texts over V2, same results and offsets.

The predictor is a real ``python -m predictor`` process serving a joblib TF-IDF pipeline;
the worker sends BYTES texts instead of token ids. The second test moves a store alias from
a transformer version to an sklearn version while products flow: the worker switches from
tokens to texts on its own, and no product is lost or dead-lettered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import joblib
import pytest

from core.settings import CacheSettings, ModelStoreSettings
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.fixtures.predictor import post_json
from tests.integration.worker_harness import (
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)
from training.builders import build_tiny_sklearn

pytestmark = pytest.mark.integration

NAME = "category-match"
TITLES = ["USB charger fast 20 W", "Teddy bear brown 30 cm", "Cotton shirt slim fit",
          "Oak table extendable", "Green tea organic 100 g", "Lego set fire station"]


def records(start: int, count: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            f"p-{i:04d}".encode(),
            json.dumps({"product_id": f"p-{i:04d}", "title": TITLES[i % len(TITLES)]}).encode(),
        )
        for i in range(start, start + count)
    ]


def test_text_mode_worker_labels_every_product_with_the_pipelines_answer(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tmp_path: Path
):
    model_dir = build_tiny_sklearn(tmp_path / "tfidf")
    pipeline = joblib.load(model_dir / "model.joblib")
    labels = json.loads((model_dir / "catmatch.json").read_text())["labels"]
    expected = {t: labels[i] for t, i in zip(TITLES, pipeline.predict(TITLES), strict=True)}
    assert len(set(expected.values())) > 3  # the model tells the titles apart
    topics = tuple(topic_factory(partitions=2, prefix=p) for p in ("in", "out", "dlq"))
    predictor = predictor_factory(model_dir, model_name=NAME)
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor.url, tmp_path / "no-tokenizer", model_name=NAME,
        input_mode="text",
    )
    n = 120
    produce(kafka_bootstrap, topics[0], records(0, n) + [(b"bad", b"{not json")])
    with running_worker(settings) as w:
        out = consume_all(kafka_config, topics[1], expected=n, timeout=90)
        dead = consume_all(kafka_config, topics[2], expected=1, timeout=30)
        assert w.worker.probes.client.state == "ready"
        wait_committed(kafka_bootstrap, settings)  # every offset, the dead letter's too
    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    assert sorted(r.product_id for r in results) == [f"p-{i:04d}" for i in range(n)]
    for r in results:
        title = TITLES[int(r.product_id[2:]) % len(TITLES)]
        assert r.label == expected[title]
        assert r.model_name == NAME and r.model_version == "tiny-sklearn-1"
        assert 0 < r.score <= 1 and len(r.top_k) == 3
    assert len(dead) == 1


def test_alias_moving_from_a_transformer_to_an_sklearn_version_while_products_flow(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tiny_model_dir,
    tmp_path: Path,
):
    from modelstore import ModelStore

    sk_labels = ["alpha", "beta", "gamma"]
    store = ModelStore.from_uri(tmp_path / "store")
    store.publish(NAME, tiny_model_dir, runtime="transformers", metrics={}, info={})
    store.publish(NAME, build_tiny_sklearn(tmp_path / "sk", labels=sk_labels),
                  runtime="sklearn", metrics={}, info={})
    store.promote(NAME, "v1", "dev", actor="test")
    topics = tuple(topic_factory(partitions=2, prefix=p) for p in ("in", "out", "dlq"))
    predictor = predictor_factory(
        model_name=NAME,
        extra_args=["--store", store.uri, "--store-name", NAME, "--model-ref", "dev",
                    "--poll-interval", "0.2"],
    )
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor.url, tiny_model_dir, model_name=NAME,
        model_ref="dev", batch_size=16, max_inflight_batches=2,
    ).model_copy(update={
        "models": ModelStoreSettings(store_uri=store.uri, name=NAME),
        # Cached labels follow a promotion within version_check_s: make that immediate.
        "cache": CacheSettings(version_check_s=0.05),
    })
    tiny_labels = set(json.loads((tiny_model_dir / "config.json").read_text())["id2label"].values())
    version_labels = {"v1": tiny_labels, "v2": set(sk_labels)}
    half = 100
    with running_worker(settings):
        produce(kafka_bootstrap, topics[0], records(0, half))
        assert len(consume_all(kafka_config, topics[1], expected=half, timeout=90)) == half
        store.promote(NAME, "v2", "dev", actor="test")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the predictor serves the sklearn version
            status, body = post_json(f"{predictor.url}/v1/models/{NAME}:predict",
                                     {"instances": ["x"]})
            if status == 200 and body["model_version"] == "v2":
                break
            time.sleep(0.1)
        produce(kafka_bootstrap, topics[0], records(half, half))
        out = consume_all(kafka_config, topics[1], expected=2 * half, timeout=90)
        dead = consume_all(kafka_config, topics[2], expected=1, timeout=2)
    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    assert sorted(r.product_id for r in results) == [f"p-{i:04d}" for i in range(2 * half)]
    assert dead == []
    for r in results:  # tokens and model (or texts and model) always from one version
        assert r.label in version_labels[r.model_version]
    first = [r for r in results if int(r.product_id[2:]) < half]
    second = [r for r in results if int(r.product_id[2:]) >= half]
    assert {r.model_version for r in first} == {"v1"}
    # Only batches sent before the first answer that names v2 still ride on the cached
    # v1: at most max_inflight_batches of them; every later batch is encoded for v2.
    riding = settings.worker.max_inflight_batches * 16
    assert sum(r.model_version == "v2" for r in second) >= half - riding
