"""Cache keys: what makes two requests the same question to the same model."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass


def normalize(text: str) -> str:
    """The text as the cache compares it: Unicode NFC, whitespace runs collapsed, trimmed.

    Nothing that can change the model's answer is normalised away: case, punctuation and
    accents stay (a cased tokenizer tells them apart), only the spelling of the same
    characters (composed or not) and the whitespace between words, which the tokenizers'
    pre-tokenizers split on anyway.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True, slots=True)
class Keyspace:
    """The keys of one model version's answers.

    ``top_k`` and ``max_length`` are in the key too: a shorter top-k list or a different
    truncation is a different answer. The text goes in as a 128-bit BLAKE2b digest, so keys
    stay short whatever the product title.
    """

    model_name: str
    version: str
    top_k: int
    max_length: int
    prefix: str = "catmatch"

    def key(self, text: str) -> str:
        digest = hashlib.blake2b(
            normalize(text).encode("utf-8", "surrogatepass"), digest_size=16
        ).hexdigest()
        return f"{self._head}{digest}"

    @property
    def _head(self) -> str:
        return (
            f"{self.prefix}:r1:{self.model_name}:{self.version}:"
            f"k{self.top_k}:l{self.max_length}:"
        )
