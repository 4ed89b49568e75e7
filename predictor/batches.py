"""Plain numpy containers passed between decoding, inference and encoding (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Protocol = Literal["v1", "v2"]
DEFAULT_MAX_BATCH_SIZE = 1024


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """Token ids already made by a client: int64 arrays of shape ``[B, L]``."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass(frozen=True, slots=True)
class Limits:
    """What a request may ask of the loaded model."""

    max_batch_size: int
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    num_labels: int
    default_top_k: int


@dataclass(frozen=True, slots=True)
class Prediction:
    """Per row: the arg-max class and its softmax probability, and the ``K`` best classes."""

    label_ids: np.ndarray  # int64 [B]
    scores: np.ndarray  # float32 [B]
    top_ids: np.ndarray  # int64 [B, K]
    top_scores: np.ndarray  # float32 [B, K]

    @property
    def rows(self) -> int:
        return int(self.label_ids.shape[0])


@dataclass(slots=True)
class ClassifyRequest:
    """A decoded request: either ``texts`` or ``encoded`` is set.

    ``source`` keeps the original V2 request (id, requested outputs, binary flags) so the
    response can honour it.
    """

    protocol: Protocol
    top_k: int
    texts: list[str] | None = None
    encoded: EncodedBatch | None = None
    request_id: str | None = None
    source: object | None = None

    @property
    def rows(self) -> int:
        if self.texts is not None:
            return len(self.texts)
        assert self.encoded is not None
        return self.encoded.rows


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``predict`` hands to ``postprocess``."""

    request: ClassifyRequest
    prediction: Prediction
