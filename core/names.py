"""The words that name things across packages, spelled once.

``Runtime`` names how a model version is served; ``Env`` names a deployment environment of
the model store; refs are what a caller may ask the store to resolve (an environment, one of
its aliases, ``latest`` or a version such as ``v3``). They are ``StrEnum`` members, so they
compare equal to, and serialise as, their plain strings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Runtime(StrEnum):
    """How a model version is loaded and served."""

    TRANSFORMERS = "transformers"
    SKLEARN = "sklearn"
    ONNX = "onnx"


RUNTIMES: tuple[str, ...] = tuple(r.value for r in Runtime)
AUTO_RUNTIME = "auto"
# For settings and signatures; a unit test keeps it equal to RUNTIME_CHOICES.
RuntimeName = Literal["auto", "transformers", "sklearn", "onnx"]
RUNTIME_CHOICES: tuple[str, ...] = (AUTO_RUNTIME, *RUNTIMES)
# Versions of these runtimes take raw texts: the worker sends no token ids to them. (An onnx
# version takes token ids made with its tokenizer.json, as a transformers version does.)
TEXT_RUNTIMES: frozenset[str] = frozenset({Runtime.SKLEARN})


class Env(StrEnum):
    """The deployment environments of the model store."""

    DEV = "dev"
    OPS = "ops"


ENVS: tuple[str, ...] = tuple(e.value for e in Env)
# Other words for an environment, accepted wherever an environment is.
ENV_ALIASES: dict[str, str] = {"production": Env.OPS, "prod": Env.OPS}
LATEST = "latest"
# Refs that can move: worth watching for promotions and rollbacks.
MOVING_REFS: frozenset[str] = frozenset({*ENVS, *ENV_ALIASES, LATEST})

DEFAULT_MODEL_NAME = "category-match"
DEFAULT_STORE_URI = "models"
