"""Build model directories offline: a tiny random model for tests, the seed model for the demo.

Both write a directory the predictor loads (``config.json``, ``model.safetensors``,
``tokenizer.json``, ``catmatch.json``), atomically and world-readable.
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


def build_seed_model(out: Path, **kwargs: Any) -> Path:
    """See :func:`predictor.builders.seed.build_seed_model`."""
    from predictor.builders.seed import build_seed_model as build

    return build(out, **kwargs)


__all__ = ["build_seed_model", "build_tiny_model"]
