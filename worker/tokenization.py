"""Worker-side tokenization with the served model's own ``tokenizer.json``.

Tokenizing in the worker keeps the predictor's CPU for the model (on a GPU pod the CPU
would otherwise cap throughput) and sends compact INT64 tensors over V2.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from tokenizers import Tokenizer

from core.tokenization import HARD_MAX_LENGTH, configure, effective_max_length

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TokenizedBatch:
    """Row-major tensors ready for a V2 request."""

    input_ids: list[int]
    attention_mask: list[int]
    rows: int
    length: int


class BatchTokenizer:
    """Pads to the longest text of a batch, truncates at the model's limit.

    Padding and truncation are set by :func:`core.tokenization.configure`, the same
    function the predictor uses for texts it tokenizes itself (it needs only ``tokenizers``).
    """

    def __init__(self, path: Path, max_length: int) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer.json not found: {path}")
        self.path = path
        self.max_length = effective_max_length(max_length, _model_max_positions(path.parent))
        self._tok = configure(Tokenizer.from_file(str(path)), self.max_length)

    def tokenize(self, texts: list[str]) -> TokenizedBatch:
        encodings = self._tok.encode_batch_fast(texts)
        length = len(encodings[0].ids) if encodings else 0
        return TokenizedBatch(
            input_ids=list(chain.from_iterable(e.ids for e in encodings)),
            attention_mask=list(chain.from_iterable(e.attention_mask for e in encodings)),
            rows=len(encodings),
            length=length,
        )


def _model_max_positions(model_dir: Path) -> int:
    """``max_position_embeddings`` from the model's config.json beside the tokenizer, if any."""
    config = model_dir / "config.json"
    try:
        return int(json.loads(config.read_text())["max_position_embeddings"])
    except (OSError, KeyError, ValueError, TypeError):
        return HARD_MAX_LENGTH
