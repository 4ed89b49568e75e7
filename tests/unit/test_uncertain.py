"""Low scores: the result is still produced, says ``uncertain: true`` and is counted."""

from __future__ import annotations

from confluent_kafka import Message

from core.settings import WorkerSettings
from schemas import CategoryResult, ProductMessage
from worker.metrics import METRICS
from worker.outputs import Labelled, OutputBuilder, count_outputs
from worker.predictor_client import Prediction


def _result(score: float, min_score: float) -> tuple[CategoryResult, bool]:
    msg = Message(topic="in", partition=0, offset=7, key=b"p", value=b"{}")
    product = ProductMessage(product_id="p", title="kettle")
    pred = Prediction(label="A", label_id=0, score=score, top_k=[("A", 0, score)])
    out = OutputBuilder("out", "dlq", "w", 1 << 20, min_score).result(
        msg, product, Labelled(pred, "m", "v1")
    )
    count_outputs([out])
    return CategoryResult.model_validate_json(out.value), out.uncertain


def test_a_score_below_min_score_is_produced_as_uncertain_and_counted() -> None:
    before = METRICS.uncertain_results._value.get()
    low, flagged = _result(0.31, 0.5)
    assert low.uncertain and flagged and low.label == "A" and low.score == 0.31
    assert METRICS.uncertain_results._value.get() == before + 1
    high, flagged = _result(0.5, 0.5)
    assert not high.uncertain and not flagged
    assert METRICS.uncertain_results._value.get() == before + 1


def test_default_min_score_and_old_results_stay_valid() -> None:
    assert WorkerSettings().min_score == 0.5
    old = {"product_id": "p", "label": "A", "label_id": 0, "score": 0.9, "model_name": "m",
           "model_version": "1", "processed_time": "2026-11-26T12:00:00Z"}
    assert CategoryResult.model_validate(old).uncertain is False
