"""Calibrated confidence: temperature scaling, expected calibration error, abstention.

- :func:`fit_temperature`: the ``T`` that minimises the negative log-likelihood of
  ``softmax(logits / T)`` on held-out rows (the validation split; Guo et al. 2017). One
  number per model version, stored in ``catmatch.json`` as ``temperature`` and applied by
  the predictor (:mod:`predictor.scoring`), so every runtime serves calibrated scores.
- :func:`expected_calibration_error`: the gap between confidence and accuracy, averaged
  over equal-width confidence bins weighted by their share of rows.
- :func:`abstention`: what a ``min_score`` does: the share of rows at or above it (the
  confident share), their accuracy, and the rows left for a person.
- :func:`ece_interval`: how far the ECE of a few hundred rows moves by chance alone (a
  bootstrap over the rows); with most rows in the top bin, a handful of titles moves it by
  a point or two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from predictor.scoring import softmax

Labels = Sequence[int] | np.ndarray

ECE_BINS = 15
ECE_RESAMPLES = 500
DEFAULT_MIN_SCORE = 0.5  # the worker's default (worker.min_score)
_LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the true labels under ``softmax(logits / T)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: Labels, iterations: int = 60) -> float:
    """Golden-section search of ``log T`` in [log 0.05, log 20] for the lowest NLL."""
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 1.0
    lo, hi = _LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, y, math.exp(a)), nll(logits, y, math.exp(b))
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, y, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, y, math.exp(b))
    return round(math.exp((lo + hi) / 2), 4)


def expected_calibration_error(
    probs: np.ndarray, labels: Labels, bins: int = ECE_BINS
) -> float:
    """ECE over ``bins`` equal-width bins of the top probability."""
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            total += rows.mean() * abs(correct[rows].mean() - confidence[rows].mean())
    return round(float(total), 4)


def ece_interval(
    probs: np.ndarray, labels: Labels, resamples: int = ECE_RESAMPLES, seed: int = 0
) -> list[float]:
    """The 5th and 95th percentiles of the ECE over ``resamples`` bootstrap draws of the
    rows (fixed ``seed``: the same rows give the same interval)."""
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    draws = [
        expected_calibration_error(probs[rows], y[rows])
        for rows in rng.integers(0, len(y), size=(resamples, len(y)))
    ]
    low, high = np.percentile(draws, [5, 95])
    return [round(float(low), 4), round(float(high), 4)]


def abstention(probs: np.ndarray, labels: Labels, min_score: float) -> dict[str, Any]:
    """The confident share at ``min_score`` and its accuracy; how many rows are uncertain."""
    y = np.asarray(labels, dtype=np.int64)
    confident = probs.max(axis=1) >= min_score
    correct = probs.argmax(axis=1) == y
    n = len(y)
    return {
        "min_score": min_score,
        "confident_share": round(float(confident.mean()), 4) if n else 0.0,
        "confident_accuracy": round(float(correct[confident].mean()), 4) if confident.any()
        else None,
        "uncertain": int((~confident).sum()),
        "uncertain_accuracy": round(float(correct[~confident].mean()), 4)
        if (~confident).any() else None,
    }


def calibration_report(
    logits: np.ndarray, labels: Labels, temperature: float,
    min_score: float = DEFAULT_MIN_SCORE,
) -> dict[str, Any]:
    """ECE before and after scaling (with its bootstrap interval), NLL after, and the
    abstention figures after.

    ``hindsight_temperature`` is the temperature this set itself would have chosen: never
    served, a check of the fitted one (when the two agree, one temperature has done what it
    can and what ECE is left is the model's or chance's, not the fit's).
    """
    raw, scaled = softmax(logits), softmax(logits, temperature)
    y = np.asarray(labels, dtype=np.int64)
    return {
        "ece_before": expected_calibration_error(raw, y),
        "ece_after": expected_calibration_error(scaled, y),
        "ece_after_interval": ece_interval(scaled, y),
        "nll_after": round(nll(logits, y, temperature), 4),
        "hindsight_temperature": fit_temperature(logits, y),
        **abstention(scaled, y, min_score),
    }
