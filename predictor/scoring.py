"""Scores to answers: fp32 softmax, the arg-max and the ``K`` best classes (numpy only).

Every classifying runtime ends here (:mod:`predictor.token_classifier` for the transformers
and onnx runtimes, :mod:`predictor.sklearn_runtime`), so all three rank and clamp ``top_k``
the same way, and all three apply the model version's calibration ``temperature``
(``catmatch.json``, fitted on validation by ``catmatch train``): the served score is
``softmax(logits / temperature)``; for an estimator that answers probabilities,
``softmax(log p / temperature)``. The ranking does not change, only the scores.
"""

from __future__ import annotations

import numpy as np

from predictor.batches import Prediction


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` in fp32 (max-subtracted, so large
    logits do not overflow)."""
    z: np.ndarray = np.asarray(logits, dtype=np.float32)
    if temperature != 1.0:
        z = z / np.float32(temperature)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def calibrate_probabilities(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of probabilities (an estimator's ``predict_proba``): the softmax of
    ``log p / temperature``; zeros stay zero."""
    if temperature == 1.0:
        return probs
    with np.errstate(divide="ignore"):
        logp = np.log(np.asarray(probs, dtype=np.float32))
    return softmax(np.where(np.isfinite(logp), logp, np.float32(-1e4)), temperature)


def top_k_prediction(probs: np.ndarray, top_k: int, *, keep_all: bool = False) -> Prediction:
    """Arg-max, its probability and the ``top_k`` best classes of a ``[B, C]`` matrix.

    ``keep_all`` also answers every class's probability (the sklearn runtime does).
    """
    k = max(1, min(top_k, probs.shape[1]))
    # stable sort of -p: ties keep the lower class id first, like torch.topk on CPU
    top_ids = np.argsort(-probs, axis=1, kind="stable")[:, :k].astype(np.int64)
    top_scores = np.take_along_axis(probs, top_ids, axis=1).astype(np.float32)
    return Prediction(
        label_ids=np.ascontiguousarray(top_ids[:, 0]),
        scores=np.ascontiguousarray(top_scores[:, 0]),
        top_ids=top_ids,
        top_scores=top_scores,
        probabilities=probs if keep_all else None,
    )
