"""Build model directories offline: tiny models for tests, the seed model for the demo.

The transformer builders write ``config.json``, ``model.safetensors``, ``tokenizer.json`` and
``catmatch.json``; the tiny sklearn builder writes ``model.joblib`` and ``catmatch.json``.
Every directory is written atomically and world-readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence


def build_tiny_model(out: Path, labels: Sequence[str] | None = None, **kwargs: Any) -> Path:
    """See :func:`predictor.builders.tiny.build_tiny_model`."""
    from predictor.builders.tiny import build_tiny_model as build

    return build(out, labels, **kwargs)


def build_tiny_sklearn(out: Path, labels: Sequence[str] | None = None, **kwargs: Any) -> Path:
    """See :func:`predictor.builders.tiny_sklearn.build_tiny_sklearn`."""
    from predictor.builders.tiny_sklearn import build_tiny_sklearn as build

    return build(out, labels, **kwargs)


def build_seed_model(out: Path, **kwargs: Any) -> Path:
    """See :func:`predictor.builders.seed.build_seed_model`."""
    from predictor.builders.seed import build_seed_model as build

    return build(out, **kwargs)


__all__ = ["build_seed_model", "build_tiny_model", "build_tiny_sklearn"]
