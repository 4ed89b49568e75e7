"""``POST /predict`` on a real KServe ModelServer process: answers, limits, token, cache."""

from __future__ import annotations

import json

import pytest

from core.settings import CacheSettings
from schemas import CategoryResult
from schemas.product import ProductMessage, product_text
from tests.fixtures.kafka import consume_all
from tests.fixtures.predictor import post_json
from tests.integration.worker_harness import pipeline_settings, produce, running_worker

pytestmark = pytest.mark.integration

TEXTS = ["Cordless drill 18 V with two batteries", "Organic green tea, 50 bags", "Oak chest"]


def test_predict_answers_like_v1_and_repeats_come_from_the_cache(predictor_factory):
    server = predictor_factory()
    url = f"{server.url}/predict"
    status, first = post_json(url, {"text": TEXTS, "top_k": 2})
    assert status == 200, first
    v1_url = f"{server.url}/v1/models/{server.model_name}:predict"
    _, v1 = post_json(v1_url, {"instances": TEXTS, "parameters": {"top_k": 2}})
    assert first["model_name"] == server.model_name and first["model_version"]
    assert first["cached"] == 0
    assert [p["label"] for p in first["predictions"]] == [p["label"] for p in v1["predictions"]]
    for mine, theirs in zip(first["predictions"], v1["predictions"], strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-5)
        assert mine["label_id"] == theirs["label_id"]
        assert [t["label"] for t in mine["top_k"]] == [t["label"] for t in theirs["top_k"]]
        assert len(mine["top_k"]) == 2
    # Same texts again (one with other white space): all three from the cache, same answers.
    again = [TEXTS[0], "Organic  green tea,\t50 bags", TEXTS[2]]
    status, second = post_json(url, {"text": again, "top_k": 2})
    assert status == 200
    assert second["cached"] == 3
    assert second["predictions"] == first["predictions"]
    # Another top_k is another answer: not served from the top-2 entries.
    _, third = post_json(url, {"text": TEXTS, "top_k": 1})
    assert third["cached"] == 0 and all(len(p["top_k"]) == 1 for p in third["predictions"])


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"text": []}, "too_short"),
        ({"text": "one text"}, "list_type"),
        ({"text": [1, 2]}, "string_type"),
        ({"text": ["x"], "colour": "red"}, "extra_forbidden"),
        ({"text": ["x"], "top_k": 0}, "greater_than_equal"),
        ({"txt": ["x"]}, "missing"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(predictor_server, body, why):
    status, answer = post_json(f"{predictor_server.url}/predict", body)
    assert status == 422
    assert why in {e["type"] for e in answer["detail"]}


def test_limits_on_texts_and_batch_size(predictor_factory):
    server = predictor_factory(extra_args=["--max-batch-size", "4"])
    url = f"{server.url}/predict"
    status, answer = post_json(url, {"text": ["kettle"] * 5})
    assert status == 422 and "maximum of 4" in answer["error"]
    status, answer = post_json(url, {"text": ["kettle", "   "]})
    assert status == 422 and "text 1 is empty" in answer["error"]
    long_ok = " ".join(["kettle"] * 400)  # 400 tokens: within 512, truncated to max_length
    too_long = " ".join(["kettle"] * 600)
    assert post_json(url, {"text": [long_ok]})[0] == 200
    status, answer = post_json(url, {"text": ["kettle", too_long]})
    assert status == 422 and "text 1 has 602 tokens" in answer["error"]


def test_predict_requires_the_bearer_token(predictor_factory):
    server = predictor_factory(env={"CATMATCH_SERVE__TOKEN": "s3cret"})
    url = f"{server.url}/predict"
    assert post_json(url, {"text": TEXTS})[0] == 401
    status, _ = post_json(url, {"text": TEXTS}, headers={"Authorization": "Bearer s3cret"})
    assert status == 200


def test_workers_and_predict_share_the_redis_cache(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tiny_model_dir,
    redis_server,
):
    server = predictor_factory(env={"CATMATCH_CACHE__REDIS_URL": redis_server.url})
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, server.url, tiny_model_dir, model_name=server.model_name
    )
    settings = settings.model_copy(update={"cache": CacheSettings(redis_url=redis_server.url)})
    products = [
        {"product_id": f"p-{i}", "title": f"Ceramic mug {i} with lid", "brand": "Tasse"}
        for i in range(20)
    ]
    produce(kafka_bootstrap, topics[0], ((None, json.dumps(p).encode()) for p in products))
    with running_worker(settings):
        out = consume_all(kafka_config, topics[1], expected=len(products), timeout=90)
    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    labelled = {r.product_id: r for r in results}
    texts = [product_text(ProductMessage.model_validate(p)) for p in products]
    status, answer = post_json(f"{server.url}/predict", {"text": texts})
    assert status == 200
    assert answer["cached"] == len(products)  # every one labelled by the worker before
    for product, mine in zip(products, answer["predictions"], strict=True):
        theirs = labelled[product["product_id"]]
        assert (mine["label"], answer["model_version"]) == (theirs.label, theirs.model_version)
