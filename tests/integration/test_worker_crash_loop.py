"""A message that crashes the worker every time it is processed: the fleet heals itself.

The crash is a simulated programming error (the classify step raises for one product), not
bad input, so no per-message guard catches it: the worker stops, as it must. Restarted again
and again on the same offsets, it must detect the loop (the failures are recorded with the
committed offset) and dead-letter that message as ``worker_crash``, then go on.
"""

from __future__ import annotations

import json

import pytest

from schemas import CategoryResult, DeadLetter, ErrorClass
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    WorkerThread,
    committed,
    pipeline_settings,
    produce,
    wait_committed,
)
from worker import classify

pytestmark = pytest.mark.integration


def product(i: int, title: str | None = None) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    return pid.encode(), json.dumps({"product_id": pid, "title": title or f"Lamp {i}"}).encode()


@pytest.fixture
def crash_on_marked_products(monkeypatch):
    """Inject a bug: classifying a batch that holds a CRASH product raises."""
    original = classify.Classifier.classify

    async def buggy(self, texts):
        if any("CRASH" in t for t in texts):
            raise RuntimeError("simulated bug: index out of range in feature extraction")
        return await original(self, texts)

    monkeypatch.setattr(classify.Classifier, "classify", buggy)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_crash_loop_on_one_message_is_detected_and_healed(
    guarantee, crash_on_marked_products, kafka_bootstrap, kafka_config, topic_factory,
    predictor_server, tiny_model_dir,
):
    topics = tuple(topic_factory(partitions=1, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee=guarantee,
        crash_loop_threshold=2,
    )
    records = [product(i) for i in range(30)]
    records[12] = product(12, "CRASH lamp")
    produce(kafka_bootstrap, topics[0], records)

    crashes = 0
    for _ in range(2):  # the supervisor's restarts, done by hand
        w = WorkerThread(settings).start()
        assert w.join(60), "the worker should stop on the unexpected error"
        assert isinstance(w.error, RuntimeError)
        crashes += 1
    assert committed(kafka_bootstrap, settings.worker.group_id, topics[0], 1)[0] <= 12

    w = WorkerThread(settings).start()  # the third start heals
    try:
        dead = consume_all(kafka_config, topics[2], expected=1, timeout=60)
        out = consume_all(kafka_config, topics[1], expected=29, timeout=60)
        wait_committed(kafka_bootstrap, settings, 1, timeout=60)
        assert w.worker.probes.liveness()[0]
    finally:
        w.stop()

    [msg] = dead
    letter = DeadLetter.model_validate_json(msg.value())
    assert msg.key() == b"p-00012" and letter.error_class == ErrorClass.WORKER_CRASH
    assert "failed 2 times" in letter.reason
    assert "RuntimeError: simulated bug" in letter.reason
    ids = {CategoryResult.model_validate_json(m.value()).product_id for m in out}
    assert len(ids) == 29 and "p-00012" not in ids and crashes == 2
