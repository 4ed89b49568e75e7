"""Results and dead letters: sized to fit the output topics, with fallbacks for refusals."""

from __future__ import annotations

import hashlib
import json

import pytest
from confluent_kafka import KafkaError, Message

from schemas import DeadLetter, ErrorClass, ProductMessage
from schemas.dead_letter import HEADER_ORIGINAL_TRUNCATED, HEADER_REPLAY_COUNT
from worker.outputs import Labelled, OutputBuilder, is_permanent, replace_refused
from worker.predictor_client import Prediction

LIMIT = 64 * 1024


def message(value: bytes | None, key: bytes | None = b"k", headers=None) -> Message:
    return Message(topic="in", partition=1, offset=42, key=key, value=value, headers=headers)


def builder(limit: int = LIMIT) -> OutputBuilder:
    return OutputBuilder("out", "dlq", "worker-0", limit)


def test_a_small_dead_letter_keeps_the_original_whole():
    out = builder().dead_letter(message(b"not json"), ErrorClass.INVALID_JSON, "not JSON")
    letter = DeadLetter.model_validate_json(out.value)
    assert letter.original_value() == b"not json" and not letter.original_truncated
    assert letter.original_size == 8
    assert letter.original_sha256 == hashlib.sha256(b"not json").hexdigest()
    assert out.key == b"k" and out.topic == "dlq" and out.dead_letter is ErrorClass.INVALID_JSON
    assert HEADER_ORIGINAL_TRUNCATED not in dict(out.headers)


@pytest.mark.parametrize("size", [LIMIT - 100, 5 * LIMIT])
def test_a_dead_letter_of_a_big_message_is_cut_to_fit_and_says_so(size):
    original = bytes(range(256)) * (size // 256)
    out = builder().dead_letter(message(original), ErrorClass.TOO_LARGE, "too large")
    assert len(out.value) + len(out.key or b"") < LIMIT
    letter = DeadLetter.model_validate_json(out.value)
    assert letter.original_truncated and original.startswith(letter.original_value())
    assert letter.original_size == len(original)
    assert letter.original_sha256 == hashlib.sha256(original).hexdigest()
    assert dict(out.headers)[HEADER_ORIGINAL_TRUNCATED] == b"1"
    assert len(letter.original_value()) > LIMIT // 2  # as much as fits, not nothing


def test_a_huge_key_is_replaced_by_its_digest_as_record_key():
    key = b"x" * 50_000
    out = builder().dead_letter(message(b"v", key=key), ErrorClass.INVALID_JSON, "why")
    assert out.key == hashlib.sha256(key).hexdigest().encode()
    assert len(out.value) < LIMIT


def test_the_replay_count_header_is_carried_to_the_dead_letter():
    msg = message(b"v", headers=[(HEADER_REPLAY_COUNT, b"2"), ("other", b"x")])
    out = builder().dead_letter(msg, ErrorClass.INVALID_JSON, "why")
    assert dict(out.headers)[HEADER_REPLAY_COUNT] == b"2"


def test_refused_records_fall_back_to_smaller_ones_and_then_stop():
    msg = message(b"{}" * 100)
    product = ProductMessage(product_id="p", title="t")
    pred = Prediction(label="A", label_id=0, score=0.9, top_k=[("A", 0, 0.9)])
    result = builder().result(msg, product, Labelled(pred, "m", "v1"))
    too_large = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large")
    assert is_permanent(too_large)
    letter = replace_refused(result, too_large)
    assert letter is not None and letter.dead_letter is ErrorClass.OUTPUT_REJECTED
    assert "refused" in json.loads(letter.value)["reason"]
    bare = replace_refused(letter, too_large)
    assert bare is not None and DeadLetter.model_validate_json(bare.value).original_value() == b""
    assert replace_refused(bare, too_large) is None  # nothing smaller exists: not the record
    transient = KafkaError(KafkaError._MSG_TIMED_OUT, "timed out")
    assert replace_refused(result, transient) is None


def test_the_result_json_is_a_valid_category_result():
    from datetime import UTC, datetime

    from schemas import CategoryResult

    msg = message(b"{}")
    when = datetime(2026, 1, 2, tzinfo=UTC)
    product = ProductMessage(product_id="p-9", title="t", event_time=when)
    top = [("A", 3, 1.0000001), ("B", 1, 0.0)]
    pred = Prediction(label="A", label_id=3, score=1.0000001, top_k=top)
    out = builder().result(msg, product, Labelled(pred, "m", "v7"))
    result = CategoryResult.model_validate_json(out.value)
    assert (result.product_id, result.label, result.label_id, result.score) == ("p-9", "A", 3, 1.0)
    assert [t.label for t in result.top_k] == ["A", "B"] and result.model_version == "v7"
    assert result.event_time == product.event_time and result.source_offset == 42
    assert b'"processed_time":"' in out.value and out.value.count(b"Z") >= 2  # UTC as Z
    bad = Prediction(label="A", label_id=-1, score=0.5, top_k=[])
    with pytest.raises(ValueError, match="negative label id"):
        builder().result(msg, product, Labelled(bad, "m", "v7"))


def test_observe_many_counts_like_observe_one_by_one() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from worker.metrics import observe_many

    bounds = (0.01, 0.1, 1.0, 10.0)
    values = [0.0, 0.01, 0.010001, 0.5, 1.0, 3.0, 10.0, 11.0, 1e9, 0.05, 0.05]
    one, many = CollectorRegistry(), CollectorRegistry()
    h_one = Histogram("lat", "one by one", buckets=bounds, registry=one)
    h_many = Histogram("lat", "in one pass", buckets=bounds, registry=many)
    for v in values:
        h_one.observe(v)
    observe_many(h_many, values)
    observe_many(h_many, [])

    def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
        return {(s.name, s.labels.get("le", "")): s.value
                for m in registry.collect() for s in m.samples if not s.name.endswith("created")}

    assert samples(many) == samples(one)
    assert samples(many)[("lat_bucket", "+Inf")] == len(values)  # every value counted once
