"""Model directories the demo, the benchmark and the drills serve, built offline when missing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def ensure_seed_model(
    model_dir: Path, announce: Callable[[str], None] = log.info
) -> Path:
    """``model_dir`` when it holds a model, else the seed model built there (~1-3 min)."""
    if (model_dir / "config.json").is_file() and (model_dir / "tokenizer.json").is_file():
        return model_dir
    announce(f"no model in {model_dir}: building the seed model offline (once, ~1-3 min)")
    from training.builders import build_seed_model  # numpy and torch: only when building

    return build_seed_model(model_dir)


DEMO_MODEL_DIR = Path("var/models/demo")


def ensure_demo_model(
    model_dir: Path = DEMO_MODEL_DIR, announce: Callable[[str], None] = log.info
) -> Path:
    """``model_dir`` when it holds a model, else the demo TF-IDF model built there (well under a
    minute: :func:`training.builders.demo.build_demo_model`)."""
    if (model_dir / "model.joblib").is_file() and (model_dir / "catmatch.json").is_file():
        return model_dir
    announce(f"no model in {model_dir}: building the demo model offline (once, under a minute)")
    from training.builders import build_demo_model  # scikit-learn: only when building

    return build_demo_model(model_dir)


def ensure_tiny_model(out: Path) -> Path:
    """``out`` when it holds a model, else a tiny random one built there (seconds)."""
    if (out / "tokenizer.json").is_file():
        return out
    from training.builders import build_tiny_model  # torch: only when a model is built

    return build_tiny_model(out)
