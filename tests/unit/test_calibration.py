"""Temperature scaling, expected calibration error, abstention; the predictor applies T."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.modelformat import ModelMetadata, card_temperature
from predictor.scoring import calibrate_probabilities, softmax
from training.calibration import (
    abstention,
    calibration_report,
    ece_interval,
    expected_calibration_error,
    fit_temperature,
    nll,
)


def overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is too sure: the true class wins ~70% of the time at ~99%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    logits = rng.normal(0, 1, (n, 5))
    logits[np.arange(n), labels] += 1.5
    return logits * 4.0, labels


def test_fitted_temperature_undoes_a_known_scale() -> None:
    logits, labels = overconfident()
    t = fit_temperature(logits, labels)
    assert 2.0 < t < 5.5
    assert nll(logits, labels, t) < nll(logits, labels, 1.0)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, t), labels)
    assert before > 0.15 and after < 0.03


def test_ece_of_a_perfectly_calibrated_set_is_zero() -> None:
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])
    assert expected_calibration_error(probs, [0, 1, 0]) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), [1]) == pytest.approx(1.0)


def test_abstention_counts_and_scores_the_confident_share() -> None:
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.4, 0.6], [0.55, 0.45]])
    res = abstention(probs, [0, 1, 1, 0], min_score=0.58)
    assert res["confident_share"] == 0.75 and res["uncertain"] == 1
    assert res["confident_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    report = calibration_report(np.log(probs), [0, 1, 1, 0], 1.0, 0.58)
    assert report["uncertain"] == 1 and "ece_after" in report


def test_ece_interval_is_wide_for_a_few_hundred_rows_and_narrows_with_more() -> None:
    logits, labels = overconfident(n=4000, seed=1)
    t = fit_temperature(logits, labels)
    probs = softmax(logits, t)
    small = ece_interval(probs[:250], labels[:250])
    large = ece_interval(probs, labels)
    assert small[0] <= expected_calibration_error(probs[:250], labels[:250]) <= small[1]
    assert large[0] <= expected_calibration_error(probs, labels) <= large[1]
    assert small[1] - small[0] > 2 * (large[1] - large[0])
    assert ece_interval(probs[:250], labels[:250]) == small  # seeded: the same every time


def test_hindsight_temperature_is_the_sets_own_and_only_reported() -> None:
    logits, labels = overconfident(seed=2)
    fitted = fit_temperature(logits[:2000], labels[:2000])
    report = calibration_report(logits[2000:], labels[2000:], fitted)
    assert report["hindsight_temperature"] == fit_temperature(logits[2000:], labels[2000:])
    assert abs(report["hindsight_temperature"] - fitted) < 0.3  # same distribution, same T
    assert report["nll_after"] == round(nll(logits[2000:], labels[2000:], fitted), 4)


def test_softmax_temperature_keeps_the_ranking_and_softens() -> None:
    logits = np.array([[2.0, 1.0, -1.0]], dtype=np.float32)
    soft = softmax(logits, 2.0)
    assert soft.argmax() == 0 and soft.max() < softmax(logits).max()
    np.testing.assert_allclose(softmax(logits, 1.0), softmax(logits))
    probs = softmax(logits)
    np.testing.assert_allclose(calibrate_probabilities(probs, 2.0), soft, rtol=1e-5)
    zero = calibrate_probabilities(np.array([[1.0, 0.0]], dtype=np.float32), 2.0)
    assert zero[0, 1] < 1e-6


def test_card_temperature() -> None:
    assert card_temperature(None) == 1.0
    card = ModelMetadata.model_validate({"name": "m", "temperature": 1.7})
    assert card_temperature(card) == 1.7
    for bad in (0, -1, "x", True):
        with pytest.raises(ValueError):
            card_temperature(ModelMetadata.model_validate({"name": "m", "temperature": bad}))


def test_the_sklearn_runtime_serves_calibrated_scores(tmp_path: Path) -> None:
    from predictor.batches import ClassifyRequest
    from predictor.sklearn_runtime import load_sklearn
    from training.builders import build_tiny_sklearn

    model_dir = build_tiny_sklearn(tmp_path / "m")
    request = ClassifyRequest(protocol="v1", top_k=2, texts=["steel pan", "green tea"])
    plain = load_sklearn(model_dir).run(request)
    card = json.loads((model_dir / "catmatch.json").read_text())
    (model_dir / "catmatch.json").write_text(json.dumps({**card, "temperature": 3.0}))
    scaled = load_sklearn(model_dir).run(request)
    assert list(scaled.label_ids) == list(plain.label_ids)
    assert np.all(scaled.scores < plain.scores)
