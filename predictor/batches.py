"""Plain numpy containers passed between request decoding, inference and response encoding.

No torch here. "Tokens" are token ids a tokenizer made (ours or a client's); the
protocol codecs decode requests and encode responses (:mod:`predictor.protocol`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Protocol = Literal["v1", "v2"]
Task = Literal["classification", "regression"]
DEFAULT_MAX_BATCH_SIZE = 1024

# What a runtime accepts: raw ``text``, client-made ``tokens`` (input ids), numeric ``features``.
TEXT_INPUT, TOKEN_INPUT, FEATURE_INPUT = "text", "tokens", "features"


@dataclass(frozen=True, slots=True)
class TokenizedBatch:
    """Token ids (tokenized here or by a client): int64 arrays of shape ``[B, L]``."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True, slots=True)
class Limits:
    """What a request may ask of the loaded model, and what it answers.

    The token fields matter only when ``inputs`` has ``tokens``; ``num_features`` only with
    ``features``. A regression model has no labels (``num_labels`` 0).
    """

    max_batch_size: int
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    num_labels: int
    default_top_k: int
    inputs: frozenset[str] = frozenset({TEXT_INPUT, TOKEN_INPUT})
    task: Task = "classification"
    num_features: int | None = None
    probabilities: bool = False  # classification answers carry every class's probability


@dataclass(frozen=True, slots=True)
class Prediction:
    """Per row: the arg-max class and its softmax probability, and the ``K`` best classes."""

    label_ids: np.ndarray  # int64 [B]
    scores: np.ndarray  # float32 [B]
    top_ids: np.ndarray  # int64 [B, K]
    top_scores: np.ndarray  # float32 [B, K]
    probabilities: np.ndarray | None = None  # float32 [B, C], label order (sklearn runtime)

    @property
    def rows(self) -> int:
        return int(self.label_ids.shape[0])


@dataclass(frozen=True, slots=True)
class Regression:
    """Per row: the predicted value(s), float32 ``[B]`` (or ``[B, T]`` for T targets)."""

    values: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])


@dataclass(slots=True)
class ClassifyRequest:
    """A decoded request: exactly one of ``texts``, ``tokens`` and ``features`` is set.

    ``source`` keeps the original V2 request (id, requested outputs, binary flags) so the
    response can honour it.
    """

    protocol: Protocol
    top_k: int
    texts: list[str] | None = None
    tokens: TokenizedBatch | None = None
    features: np.ndarray | None = None  # float64 [B, F]
    request_id: str | None = None
    source: object | None = None

    @property
    def rows(self) -> int:
        if self.texts is not None:
            return len(self.texts)
        if self.features is not None:
            return int(self.features.shape[0])
        assert self.tokens is not None
        return self.tokens.rows
