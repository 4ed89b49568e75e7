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

log = logging.getLogger(__name__)

HARD_MAX_LENGTH = 512


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """Row-major tensors ready for a V2 request."""

    input_ids: list[int]
    attention_mask: list[int]
    rows: int
    length: int


class BatchTokenizer:
    """Pads to the longest text of a batch, truncates at the model's limit."""

    def __init__(self, path: Path, max_length: int) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer.json not found: {path}")
        self.path = path
        self.max_length = min(max_length, _model_max_positions(path.parent), HARD_MAX_LENGTH)
        tok = Tokenizer.from_file(str(path))
        tok.no_padding()
        tok.enable_truncation(max_length=self.max_length)
        pad_token = "[PAD]" if tok.token_to_id("[PAD]") is not None else "<pad>"
        pad_id = tok.token_to_id(pad_token)
        tok.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=pad_token)
        self._tok = tok

    def encode(self, texts: list[str]) -> EncodedBatch:
        encodings = self._tok.encode_batch_fast(texts)
        length = len(encodings[0].ids) if encodings else 0
        return EncodedBatch(
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
