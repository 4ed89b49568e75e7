"""Hostile input against the real broker and predictor: nothing may stop a partition.

Every hostile message must end on the dead-letter topic with a reason, every valid product
must be labelled, the worker must stay alive and commit to the end of the input, under both
processing guarantees.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from schemas import CategoryResult, DeadLetter, ErrorClass
from schemas.dead_letter import HEADER_ORIGINAL_TRUNCATED
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)
from toolbox.drills.hostile import HOSTILE

pytestmark = pytest.mark.integration

PARTITIONS = 2
GUARANTEES = ["at_least_once", "exactly_once"]


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    value = {"product_id": pid, "title": f"Stainless steel kettle model {i}", "brand": "Acme"}
    return pid.encode(), json.dumps(value).encode()


@pytest.fixture
def topics(topic_factory):
    return tuple(topic_factory(partitions=PARTITIONS, prefix=p) for p in ("in", "out", "dlq"))


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_hostile_messages_are_dead_lettered_and_the_worker_lives_on(
    guarantee, kafka_bootstrap, kafka_config, topics, predictor_server, tiny_model_dir
):
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
    )
    good = [product(i) for i in range(60)]
    records = []
    for i, (value, _) in enumerate(HOSTILE):  # interleaved, so poison sits between products
        records += [good[2 * i], (f"h-{i}".encode(), value), good[2 * i + 1]]
    records += good[2 * len(HOSTILE):]
    produce(kafka_bootstrap, topics[0], records)

    with running_worker(settings) as w:
        dead = consume_all(kafka_config, topics[2], expected=len(HOSTILE), timeout=90)
        out = consume_all(kafka_config, topics[1], expected=len(good), timeout=90)
        wait_committed(kafka_bootstrap, settings, PARTITIONS, timeout=60)
        alive, _ = w.worker.probes.liveness()
        assert alive and w.error is None

    letters = {m.key(): DeadLetter.model_validate_json(m.value()) for m in dead}
    assert len(dead) == len(HOSTILE)
    for i, (value, error_class) in enumerate(HOSTILE):
        letter = letters[f"h-{i}".encode()]
        assert letter.error_class == error_class, (i, letter.reason)
        assert letter.reason
        assert letter.original_value() == (value or b"")
    ids = sorted(CategoryResult.model_validate_json(m.value()).product_id for m in out)
    assert ids == sorted(k.decode() for k, _ in good)


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_a_dead_letter_too_big_for_the_topic_is_truncated_and_the_partition_moves_on(
    guarantee, kafka_bootstrap, kafka_config, topic_factory, predictor_server, tiny_model_dir
):
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
    )
    big = json.dumps({"product_id": "big", "title": "x", "description": "d" * 900_000}).encode()
    good = [product(i) for i in range(20)]
    produce(kafka_bootstrap, topics[0], [*good[:10], (b"big", big), *good[10:]])

    with running_worker(settings) as w:
        dead = consume_all(kafka_config, topics[2], expected=1, timeout=60)
        out = consume_all(kafka_config, topics[1], expected=len(good), timeout=60)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)
        assert w.error is None

    assert len(out) == len(good)
    [msg] = dead
    letter = DeadLetter.model_validate_json(msg.value())
    assert letter.error_class == ErrorClass.TOO_LARGE
    assert letter.original_truncated and dict(msg.headers())[HEADER_ORIGINAL_TRUNCATED] == b"1"
    assert letter.original_size == len(big)
    assert letter.original_sha256 == hashlib.sha256(big).hexdigest()
    assert big.startswith(letter.original_value()) and len(msg.value()) < 1_000_000
