"""Build model directories offline: tiny models for tests, the seed model for the demo.

The transformer builders write ``config.json``, ``model.safetensors``, ``tokenizer.json`` and
``catmatch.json``; the tiny sklearn builder writes ``model.joblib`` and ``catmatch.json``.
Every directory is written atomically and world-readable. torch, transformers and sklearn
are imported only when a builder runs.
"""

from training.builders.seed import build_seed_model
from training.builders.tiny import build_tiny_model
from training.builders.tiny_sklearn import build_tiny_sklearn

__all__ = ["build_seed_model", "build_tiny_model", "build_tiny_sklearn"]
