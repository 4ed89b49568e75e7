"""The baseline: TF-IDF over character 2–4-grams (``char_wb``) and word 1–2-grams + logistic
regression.

The same recipe is the Korean route and English blend partner of a MiniLM version
(:mod:`training.korean_route`) and the ``make demo`` model (:mod:`training.builders.demo`).
Word uni- and bigrams were added to the character n-grams on 2026-12-07 (issue 18): on the
English hand-written titles the pipeline alone went from 0.8071 to 0.8381 and Korean from
0.8889 to 0.8810 (docs/TRAINING.md, "The n-gram blend"). numpy and scikit-learn are imported
where used: the CLI imports the recipe's name with the core dependencies only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

BASELINE_FILE = "model.joblib"
BASELINE_NAME = "tfidf-char-2-4-word-1-2"  # its row in training/candidates.json
BASELINE_LABEL = "TF-IDF char 2-4 + word 1-2 + LogReg"  # in printed tables
BASELINE_RECIPE = {
    "vectorizer": "FeatureUnion(TfidfVectorizer(analyzer='char_wb', ngram_range=(2, 4), "
                  "sublinear_tf=True), TfidfVectorizer(analyzer='word', ngram_range=(1, 2), "
                  "sublinear_tf=True))",
    "classifier": "LogisticRegression(C=10, max_iter=2000)",
}


def build_pipeline(seed: int = 0) -> Any:
    """An unfitted scikit-learn pipeline: lower-cased character n-grams within word bounds
    beside word uni- and bigrams, one logistic regression over both."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    return Pipeline([
        ("tfidf", FeatureUnion([
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                     lowercase=True, dtype=np.float32)),
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                     lowercase=True, dtype=np.float32)),
        ])),
        ("clf", LogisticRegression(C=10.0, max_iter=2000, random_state=seed)),
    ])


def fit_baseline(texts: Sequence[str], label_ids: Sequence[int], seed: int = 0) -> Any:
    """Fit the pipeline; it predicts class ids (``label_id``)."""
    import numpy as np

    if not texts:
        raise ValueError("no training texts")
    started = time.perf_counter()
    pipeline = build_pipeline(seed).fit(list(texts), np.asarray(label_ids))
    log.info("TF-IDF baseline fitted on %d texts in %.1f s", len(texts),
             time.perf_counter() - started)
    return pipeline


def log_probs(pipeline: Any, texts: Sequence[str], num_labels: int) -> np.ndarray:
    """``[B, num_labels]`` float64 log-probabilities of the pipeline (a class it never saw:
    log 1e-12), what temperature scaling of an estimator works on."""
    import numpy as np

    probs = np.full((len(texts), num_labels), 1e-12, dtype=np.float64)
    probs[:, np.asarray(pipeline.classes_, dtype=np.int64)] = pipeline.predict_proba(list(texts))
    logp: np.ndarray = np.log(np.maximum(probs, 1e-12))
    return logp


def predict_baseline(pipeline: Any, texts: Sequence[str]) -> np.ndarray:
    """Class ids for ``texts``."""
    import numpy as np

    return np.asarray(pipeline.predict(list(texts)), dtype=np.int64)


def save_baseline(pipeline: Any, out_dir: Path) -> Path:
    """Write the fitted pipeline as ``model.joblib``."""
    import joblib

    path = Path(out_dir) / BASELINE_FILE
    joblib.dump(pipeline, path)
    return path


def load_baseline(model_dir: Path) -> Any:
    """Load ``model.joblib`` (only from a trusted store: joblib files run code)."""
    import joblib

    return joblib.load(Path(model_dir) / BASELINE_FILE)
