"""Evaluation helpers: metrics on a toy confusion, the confusion PNG, latency, batching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.categories import LABELS
from training.evaluate import (
    classification_metrics,
    confusion,
    latency_ms_per_text,
    per_class_f1,
    write_confusion_png,
)
from training.finetune import _linear_schedule, length_grouped_batches


def test_metrics_on_a_toy_confusion():
    truth, predicted = [0, 0, 1, 1, 2], [0, 1, 1, 1, 2]
    m = classification_metrics(truth, predicted, ["a", "b", "c", "d"])
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["per_class_f1"] == {"a": pytest.approx(0.6667), "b": 0.8, "c": 1.0, "d": None}
    # macro-F1 over the classes present in the truth (d has no examples)
    assert m["macro_f1"] == pytest.approx(round((2 / 3 + 0.8 + 1.0) / 3, 4))
    assert m["support"] == {"a": 2, "b": 2, "c": 1, "d": 0} and m["examples"] == 5


def test_per_class_f1_counts_false_positives_of_absent_classes():
    matrix = confusion([0, 0], [1, 0], 2)
    assert matrix.tolist() == [[1, 1], [0, 0]]
    assert per_class_f1(matrix) == [pytest.approx(2 / 3), 0.0]


def test_confusion_png_is_written_and_readable(tmp_path: Path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, len(LABELS), 400)
    predicted = np.where(rng.random(400) < 0.8, truth, rng.integers(0, len(LABELS), 400))
    matrix = confusion(truth, predicted, len(LABELS))
    path = write_confusion_png(matrix, tmp_path / "cm.png", "toy")
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.width > 21 * 20 and image.height > 21 * 20
        diag = image.getpixel((60 + 15, 60 + 15))  # centre-ish of cell (I, I)
        assert diag[2] == 255 and diag[0] < 200  # a strong blue: most of row I is correct


def test_latency_is_per_text_and_warms_up_once():
    calls: list[int] = []
    ms = latency_ms_per_text(lambda batch: calls.append(len(batch)), [f"t{i}" for i in range(70)])
    assert calls == [32, 32, 32, 6] and ms >= 0
    assert np.isnan(latency_ms_per_text(lambda batch: None, []))


def test_length_grouped_batches_cover_every_row_once_and_are_deterministic():
    lengths = list(np.random.default_rng(1).integers(3, 40, 1000))
    first = length_grouped_batches(lengths, 32, np.random.default_rng(7))
    again = length_grouped_batches(lengths, 32, np.random.default_rng(7))
    assert first == again
    flat = [i for batch in first for i in batch]
    assert sorted(flat) == list(range(1000))
    assert max(len(b) for b in first) == 32
    other = length_grouped_batches(lengths, 32, np.random.default_rng(8))
    assert other != first


def test_linear_warmup_then_decay():
    factor = _linear_schedule(warmup=10, total=110)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(60) == pytest.approx(0.5)
    assert factor(110) == 0.0
