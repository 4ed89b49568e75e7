"""Fit the Korean route of a version (:mod:`predictor.korean_route` says what it is).

``catmatch train`` calls :func:`fit_korean_route` for a base whose vocabulary spells Hangul
as single jamo (``Base.korean_route``: all-MiniLM-L6-v2) once the fine-tuned model is in
its directory: the TF-IDF recipe of :mod:`training.baseline` is fitted on every training
text as the predictor will see it (tokenized with the version's ``tokenizer.json`` and
decoded back), its temperature on the validation texts seen the same way, and both are
written into the directory (``korean/model.joblib``, ``catmatch.json`` ``korean_route``),
with the weight of the English blend (``blend_weight``, :data:`BLEND_WEIGHT` by default:
the pipeline also scores every other row, beside the network).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.categories import LABELS
from core.modelformat import read_metadata, write_metadata
from core.tokenization import load_tokenizer
from predictor.korean_route import (
    ROUTE_DIR,
    ROUTE_FILE,
    ROUTE_KEY,
    checked_blend_weight,
    seen_texts,
)
from training import baseline
from training.calibration import fit_temperature

log = logging.getLogger(__name__)

# The pipeline's share of an English row's served score: the unweighted geometric mean of the
# two calibrated models (no other weight of it was tried; docs/TRAINING.md, "The n-gram
# blend", lists the forms that were).
BLEND_WEIGHT = 0.5


def fit_korean_route(
    model_dir: Path, train: tuple[Sequence[str], Sequence[int]],
    validation: tuple[Sequence[str], Sequence[int]], *, max_length: int, seed: int = 0,
    blend_weight: float = BLEND_WEIGHT,
) -> dict[str, Any]:
    """Fit and write the route of the model in ``model_dir``; returns its card entry."""
    checked_blend_weight(blend_weight)  # refused before fitting, not when served
    started = time.perf_counter()
    model_dir = Path(model_dir)
    tokenizer = load_tokenizer(model_dir, max_length)
    pipeline = baseline.fit_baseline(seen_texts(tokenizer, train[0]), list(train[1]), seed)
    temperature = fit_temperature(
        baseline.log_probs(pipeline, seen_texts(tokenizer, validation[0]), len(LABELS)),
        list(validation[1]))
    (model_dir / ROUTE_DIR).mkdir(exist_ok=True)
    baseline.save_baseline(pipeline, model_dir / ROUTE_DIR)
    entry = {"model_file": ROUTE_FILE, "temperature": temperature,
             "blend_weight": blend_weight,
             "recipe": baseline.BASELINE_RECIPE,
             "fitted_on": "the training texts tokenized with this version's tokenizer and "
                          "decoded back"}
    card = read_metadata(model_dir)
    if card is None:
        raise FileNotFoundError(f"{model_dir} has no catmatch.json")
    write_metadata(model_dir, card.model_copy(update={ROUTE_KEY: entry}))
    log.info("korean route fitted on %d texts in %.1f s (temperature %.4g)", len(train[0]),
             time.perf_counter() - started, temperature)
    return entry
