"""A tiny scikit-learn text model for tests and examples of the ``sklearn`` runtime.

TF-IDF over character n-grams, then logistic regression (classification) or ridge regression
(a made-up price per keyword, for the regression job), fitted in well under a second on a
handful of shop words per category. Same default labels as the tiny transformer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from core.modelformat import ModelMetadata, write_metadata
from training.builders.artifacts import atomic_model_dir
from training.builders.tiny import DEFAULT_TINY_LABELS, check_labels

log = logging.getLogger(__name__)

TINY_SKLEARN_NAME = "category-match-tiny-sklearn"
MODEL_FILE = "model.joblib"
# Words per default label; other labels get made-up words (their own name, repeated).
_WORDS = {
    "apparel": ("cotton shirt", "denim jeans", "wool sweater", "summer dress", "leather belt"),
    "electronics": ("usb cable", "phone charger", "laptop", "bluetooth speaker", "hdmi adapter"),
    "food": ("dark chocolate", "coffee beans", "olive oil", "pasta", "green tea"),
    "home": ("oak table", "floor lamp", "sofa cushion", "bath towel", "kitchen shelf"),
    "toys": ("lego set", "jigsaw puzzle", "teddy bear", "toy car", "board game"),
}
_TEMPLATES = ("{w}", "new {w}", "{w}, size M", "premium {w} 2 pack", "{w} for kids", "best {w}")


def training_texts(labels: Sequence[str]) -> tuple[list[str], list[int]]:
    """Texts and label ids the tiny model is fitted on (deterministic)."""
    texts: list[str] = []
    ids: list[int] = []
    for i, label in enumerate(labels):
        words = _WORDS.get(label, (label, f"{label} item", f"{label} thing"))
        for word in words:
            for template in _TEMPLATES:
                texts.append(template.format(w=word))
                ids.append(i)
    return texts, ids


def build_tiny_sklearn(
    out: Path,
    labels: Sequence[str] | None = None,
    *,
    task: str = "classification",
    version: str = "tiny-sklearn-1",
) -> Path:
    """Write a joblib text pipeline with its ``catmatch.json`` (runtime sklearn) to ``out``."""
    import joblib
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    if task not in ("classification", "regression"):
        raise ValueError(f"task must be classification or regression, got {task!r}")
    names = check_labels(labels or DEFAULT_TINY_LABELS)
    texts, ids = training_texts(names)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    if task == "classification":
        estimator = LogisticRegression(C=10.0, max_iter=1000, random_state=0)
        target = np.asarray(ids)
    else:  # a price that depends on the category: 10, 20, 30, ...
        estimator = Ridge(alpha=0.1)
        target = 10.0 * (np.asarray(ids, dtype=np.float64) + 1)
    pipeline = Pipeline([("tfidf", vectorizer), ("model", estimator)]).fit(texts, target)
    out = Path(out)
    with atomic_model_dir(out) as tmp:
        joblib.dump(pipeline, tmp / MODEL_FILE)
        write_metadata(tmp, ModelMetadata(
            name=TINY_SKLEARN_NAME,
            version=version,
            labels=names if task == "classification" else [],
            base_model=None,
            metrics={},
            runtime="sklearn",
            model_file=MODEL_FILE,
            task=task,
            input="text",
        ))
    log.info("tiny sklearn %s model written to %s", task, out)
    return out
