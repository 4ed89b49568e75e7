"""The model directory's ``tokenizer.json``, with padding and truncation set by us.

The MiniLM ``tokenizer.json`` ships with padding and truncation fixed at 128 tokens; whatever a
file says, the predictor truncates at its own limit and pads each batch to its longest row.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from core.modelformat import TOKENIZER_FILE

HARD_MAX_LENGTH = 512
_PAD_TOKENS = ("[PAD]", "<pad>")


def effective_max_length(requested: int, max_positions: int) -> int:
    """Truncation length: the smallest of the setting, the model's positions and 512."""
    return max(1, min(requested, max_positions, HARD_MAX_LENGTH))


def configure(tokenizer: Tokenizer, max_length: int) -> Tokenizer:
    """Truncate at ``max_length`` and pad to the longest row of each batch (in place)."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.enable_truncation(max_length=max_length)
    pad_id, pad_token = 0, "[PAD]"
    for token in _PAD_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            pad_id, pad_token = token_id, token
            break
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    return tokenizer


def load_tokenizer(model_dir: Path, max_length: int) -> Tokenizer:
    """Load ``model_dir/tokenizer.json`` configured by :func:`configure`."""
    path = Path(model_dir) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{TOKENIZER_FILE} not found in {model_dir}")
    return configure(Tokenizer.from_file(str(path)), max_length)
