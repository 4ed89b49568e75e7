"""The result cache in a running worker: a real broker, a real predictor, a real Redis.

Products are repeated with new product ids: the repeats must come back with the labels the
model gave the first time, from the cache, even with the predictor gone; a restarted worker
must find them in Redis; and Redis dying mid-stream must cost nothing but speed.
"""

from __future__ import annotations

import json

import pytest

from core.settings import CacheSettings, Settings
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)
from worker.metrics import METRICS

pytestmark = pytest.mark.integration

PARTITIONS = 2
TITLES = 120


def product(i: int, round_: int) -> tuple[bytes, bytes]:
    """Product ``i`` of a round: a new id every round, the same title every round."""
    pid = f"r{round_}-{i:04d}"
    value = {"product_id": pid, "title": f"Cordless drill {i} with two batteries", "brand": "Bo"}
    return pid.encode(), json.dumps(value).encode()


def lookups(result: str) -> float:
    return METRICS.cache_lookups.labels(result=result)._value.get()


def run_round(settings: Settings, kafka_bootstrap, kafka_config, topics, round_: int) -> dict:
    """Send every title once more; return {title index: (label, version)} of the answers."""
    produce(kafka_bootstrap, topics[0], (product(i, round_) for i in range(TITLES)))
    out = consume_all(kafka_config, topics[1], expected=TITLES * (round_ + 1), timeout=90)
    wait_committed(kafka_bootstrap, settings, PARTITIONS)
    results = [CategoryResult.model_validate_json(m.value()) for m in out]
    mine = [r for r in results if r.product_id.startswith(f"r{round_}-")]
    assert sorted(r.product_id for r in mine) == [f"r{round_}-{i:04d}" for i in range(TITLES)]
    return {int(r.product_id.split("-")[1]): (r.label, r.model_version) for r in mine}


@pytest.fixture
def topics(topic_factory):
    return tuple(topic_factory(partitions=PARTITIONS, prefix=p) for p in ("in", "out", "dlq"))


def cached_settings(kafka_bootstrap, topics, predictor, model_dir, **cache) -> Settings:
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor.url, model_dir, model_name=predictor.model_name
    )
    return settings.model_copy(update={"cache": CacheSettings(version_check_s=3600, **cache)})


def test_repeats_are_answered_from_the_cache_with_the_predictor_gone(
    kafka_bootstrap, kafka_config, topics, predictor_factory, tiny_model_dir
):
    predictor = predictor_factory()
    settings = cached_settings(kafka_bootstrap, topics, predictor, tiny_model_dir)
    with running_worker(settings):
        first = run_round(settings, kafka_bootstrap, kafka_config, topics, 0)
        predictor.kill()
        hits = lookups("hit_memory")
        second = run_round(settings, kafka_bootstrap, kafka_config, topics, 1)
        assert lookups("hit_memory") - hits == TITLES
    assert second == first  # same label, same model version, for every title
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []


def test_a_restarted_worker_finds_the_answers_in_redis(
    kafka_bootstrap, kafka_config, topics, predictor_factory, tiny_model_dir, redis_server
):
    predictor = predictor_factory()
    settings = cached_settings(
        kafka_bootstrap, topics, predictor, tiny_model_dir, redis_url=redis_server.url
    )
    with running_worker(settings):
        first = run_round(settings, kafka_bootstrap, kafka_config, topics, 0)
    shared = lookups("hit_redis")
    with running_worker(settings):  # a new process would have an empty in-process LRU
        second = run_round(settings, kafka_bootstrap, kafka_config, topics, 1)
    # Until the predictor has told the new worker which version it serves (one product per
    # batch in flight), nothing is looked up; everything else is a Redis hit.
    assert lookups("hit_redis") - shared >= TITLES - settings.worker.max_inflight_batches
    assert second == first
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []


def test_redis_dying_mid_stream_loses_nothing(
    kafka_bootstrap, kafka_config, topics, predictor_factory, tiny_model_dir, redis_server
):
    predictor = predictor_factory()
    settings = cached_settings(  # no in-process tier: every lookup goes to Redis
        kafka_bootstrap, topics, predictor, tiny_model_dir, redis_url=redis_server.url,
        max_entries=0,
    )
    errors = METRICS.cache_errors._value.get()
    with running_worker(settings):
        first = run_round(settings, kafka_bootstrap, kafka_config, topics, 0)
        redis_server.kill()
        second = run_round(settings, kafka_bootstrap, kafka_config, topics, 1)
        third = run_round(settings, kafka_bootstrap, kafka_config, topics, 2)
    assert first == second == third
    assert METRICS.cache_errors._value.get() > errors  # counted, then skipped for a while
    assert consume_all(kafka_config, topics[2], expected=1, timeout=2) == []
