"""The classical-model runtime: a scikit-learn estimator or pipeline saved with joblib.

A model directory for this runtime holds ``model.joblib`` (or another ``*.joblib``/``*.pkl``
file) and usually ``catmatch.json``, whose fields configure it:

- ``runtime``: ``"sklearn"``;
- ``model_file``: the file to load (default: the only joblib/pickle file in the directory);
- ``task``: ``"classification"`` (answers the arg-max label, top-k and every class's
  probability from ``predict_proba``) or ``"regression"`` (answers ``predict``'s values).
  Default: what ``sklearn.base.is_classifier``/``is_regressor`` say about the estimator;
- ``input``: ``"text"`` (the estimator takes a list of strings, e.g. TF-IDF + logistic
  regression) or ``"features"`` (a numeric ``[B, F]`` matrix). Default: ``features`` when
  the estimator knows ``n_features_in_``, else ``text``;
- ``labels``: class names in id order. Classes the estimator knows as integers ``0..n-1``
  are named by this list; string classes name themselves.

The same V1/V2 protocol as the transformer runtime serves it (:mod:`predictor.protocol`),
so a deployment picks its runtime and clients do not change. Nothing here imports torch.

Loading a joblib file runs code from it: load only models from a store you trust.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.modelformat import (
    DEFAULT_VERSION,
    MODEL_SUFFIXES,
    card_temperature,
    read_metadata,
    sklearn_model_files,
)
from core.names import Runtime
from predictor.batches import (
    FEATURE_INPUT,
    TEXT_INPUT,
    ClassifyRequest,
    Limits,
    Prediction,
    Regression,
    Task,
)
from predictor.scoring import calibrate_probabilities, top_k_prediction

log = logging.getLogger(__name__)

RUNTIME = Runtime.SKLEARN
TASKS: tuple[Task, ...] = ("classification", "regression")
INPUTS = (TEXT_INPUT, FEATURE_INPUT)


class SklearnModel:
    """A loaded estimator with what the protocol needs to know about it."""

    runtime = RUNTIME
    device = None  # nothing to free on eviction

    def __init__(
        self,
        estimator: Any,
        *,
        task: Task,
        input_kind: str,
        labels: Sequence[str] = (),
        class_columns: Sequence[int] = (),
        num_features: int | None = None,
        version: str = DEFAULT_VERSION,
        temperature: float = 1.0,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if input_kind not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {input_kind!r}")
        if task == "classification" and not labels:
            raise ValueError("a classifier needs its labels")
        self.estimator = estimator
        self.task: Task = task
        self.input_kind = input_kind
        self.labels: tuple[str, ...] = tuple(labels) if task == "classification" else ()
        # predict_proba column j is the probability of label class_columns[j]
        self.class_columns = np.asarray(class_columns, dtype=np.int64)
        self.num_features = num_features
        self.version = version
        self.temperature = temperature  # calibration, applied in predictor.scoring
        self._proba = task == "classification" and hasattr(estimator, "predict_proba")
        # without predict_proba: predicted class value -> label id, built once
        self._class_ids: dict[Any, int] = {}
        if task == "classification" and not self._proba:
            classes = np.asarray(estimator.classes_).tolist()
            self._class_ids = {c: int(i) for c, i in zip(classes, self.class_columns, strict=True)}

    def limits(self, max_batch_size: int, default_top_k: int) -> Limits:
        return Limits(
            max_batch_size=max_batch_size,
            max_positions=0,
            vocab_size=0,
            type_vocab_size=0,
            num_labels=len(self.labels),
            default_top_k=default_top_k,
            inputs=frozenset({self.input_kind}),
            task=self.task,
            num_features=self.num_features,
            probabilities=self.task == "classification",
        )

    def run(self, request: ClassifyRequest) -> Prediction | Regression:
        """Predict for a decoded request (blocking; runs on the model thread)."""
        rows: Any = request.texts if self.input_kind == TEXT_INPUT else request.features
        if rows is None:
            raise ValueError(f"this model takes {self.input_kind} input")
        if self.task == "regression":
            values = np.asarray(self.estimator.predict(rows), dtype=np.float32)
            return Regression(np.ascontiguousarray(values))
        return self.classify(rows, request.top_k)

    def classify(self, rows: Any, top_k: int) -> Prediction:
        """Probabilities in label order, arg-max and top-k."""
        n = len(rows)
        probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        if self._proba:
            probs[:, self.class_columns] = self.estimator.predict_proba(rows)
            probs = calibrate_probabilities(probs, self.temperature)
        else:  # e.g. LinearSVC: no probabilities, the predicted class gets 1.0
            predicted = np.asarray(self.estimator.predict(rows))
            ids = [self._class_ids[c] for c in predicted.tolist()]
            probs[np.arange(n), np.asarray(ids, dtype=np.int64)] = 1.0
        return top_k_prediction(probs, top_k, keep_all=True)

    def count_tokens(self, texts: Sequence[str]) -> None:
        """``None``: a text pipeline splits raw text its own way, with no token limit."""
        return None

    def warm_up(self) -> None:
        """One prediction, so a broken estimator fails at load time, not on traffic."""
        if self.input_kind == TEXT_INPUT:
            request = ClassifyRequest(protocol="v1", top_k=1, texts=["warm-up"])
        else:
            width = self.num_features or 1
            request = ClassifyRequest(
                protocol="v1", top_k=1, features=np.zeros((1, width), dtype=np.float64)
            )
        self.run(request)


def find_model_file(model_dir: Path, name: str | None = None) -> Path:
    """``model_dir/name``, or the only joblib/pickle file in ``model_dir``."""
    model_dir = Path(model_dir)
    if name:
        path = model_dir / name
        if not path.is_file() or path.parent.resolve() != model_dir.resolve():
            raise FileNotFoundError(f"model file {name!r} not found in {model_dir}")
        return path
    found = sklearn_model_files(model_dir)
    if len(found) != 1:
        raise FileNotFoundError(
            f"{model_dir}: expected one {'/'.join(MODEL_SUFFIXES)} model file, found "
            f"{[p.name for p in found]} (name it with model_file in catmatch.json)"
        )
    return found[0]


def load_sklearn(model_dir: Path, *, task: str | None = None) -> SklearnModel:
    """Load a joblib estimator and configure it from ``catmatch.json`` (``task`` overrides)."""
    import joblib
    from sklearn.base import is_classifier, is_regressor

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    card = read_metadata(model_dir)
    extra: dict[str, Any] = dict(card.model_extra or {}) if card is not None else {}
    path = find_model_file(model_dir, extra.get("model_file"))
    estimator = joblib.load(path)
    task = task or extra.get("task")
    if task is None:
        if is_classifier(estimator):
            task = "classification"
        elif is_regressor(estimator):
            task = "regression"
        else:
            raise ValueError(
                f"{path.name}: cannot tell classifier from regressor; set task in catmatch.json"
            )
    if task not in TASKS:
        raise ValueError(f"{model_dir}: task must be one of {TASKS}, got {task!r}")
    num_features = getattr(estimator, "n_features_in_", None)
    input_kind = extra.get("input") or (FEATURE_INPUT if num_features is not None else TEXT_INPUT)
    labels: list[str] = []
    columns: list[int] = []
    if task == "classification":
        if not hasattr(estimator, "classes_"):
            raise ValueError(f"{path.name}: a classifier without classes_ (not fitted?)")
        labels, columns = _label_columns(estimator.classes_, card.labels if card else [])
    version = card.version if card is not None else DEFAULT_VERSION
    model = SklearnModel(
        estimator,
        task=task,
        input_kind=input_kind,
        labels=labels,
        class_columns=columns,
        num_features=int(num_features) if num_features is not None else None,
        version=version,
        temperature=card_temperature(card),
    )
    log.info(
        "loaded %s (%s, %s, %s input, %d labels) version=%s",
        path, type(estimator).__name__, task, input_kind, len(labels), version,
    )
    return model


def _label_columns(classes: Any, card_labels: Sequence[str]) -> tuple[list[str], list[int]]:
    """Label names in id order, and the label id of each ``predict_proba`` column.

    Integer classes are ids into ``card_labels`` (or named by their number without one);
    string classes are names, ordered as ``card_labels`` when it has them all.
    """
    values = list(np.asarray(classes).tolist())
    if all(isinstance(c, int) and not isinstance(c, bool) for c in values):
        if card_labels:
            bad = [c for c in values if not 0 <= c < len(card_labels)]
            if bad:
                raise ValueError(f"classes {bad} have no name among {len(card_labels)} labels")
            return list(card_labels), values
        top = max(values) + 1
        return [str(i) for i in range(top)], values
    names = [str(c) for c in values]
    if card_labels and set(names) <= set(card_labels):
        order = {name: i for i, name in enumerate(card_labels)}
        return list(card_labels), [order[n] for n in names]
    return names, list(range(len(names)))
