"""Keep the evaluation titles out of training: exact and near-duplicate matches.

Two texts are *near-duplicates* when their normalised forms (NFKC, lower case, only letters
and digits, Hangul included) are equal, or when the Jaccard similarity of their character
3-gram sets reaches :data:`NEAR_DUPLICATE_JACCARD`. ``prepare_data`` drops every synthetic
training or validation title that is a near-duplicate of a title in ``data/eval/`` (it
reports how many), and ``tests/unit/test_training_leakage.py`` checks the prepared splits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent.parent / "data" / "eval"
NEAR_DUPLICATE_JACCARD = 0.6
_NOT_WORD = re.compile(r"[^0-9a-z\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")


def normalise(text: str) -> str:
    """NFKC, lower case, runs of anything but letters/digits/Hangul → one space."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def trigrams(text: str) -> frozenset[str]:
    """Character 3-grams of the normalised text (spaces kept as word bounds)."""
    norm = f" {normalise(text)} "
    return frozenset(norm[i : i + 3] for i in range(len(norm) - 2))


def eval_titles(eval_dir: Path = EVAL_DIR) -> list[str]:
    """Every ``text`` of every JSON-lines file in ``eval_dir``."""
    texts: list[str] = []
    for path in sorted(Path(eval_dir).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(str(json.loads(line)["text"]))
    return texts


class EvalIndex:
    """The evaluation titles, indexed for near-duplicate look-ups."""

    def __init__(self, texts: Iterable[str], threshold: float = NEAR_DUPLICATE_JACCARD) -> None:
        self.texts = list(texts)
        self.threshold = threshold
        self._exact = {normalise(t): i for i, t in enumerate(self.texts)}
        self._grams = [trigrams(t) for t in self.texts]
        self._by_gram: dict[str, list[int]] = defaultdict(list)
        for i, grams in enumerate(self._grams):
            for gram in grams:
                self._by_gram[gram].append(i)

    def match(self, text: str) -> tuple[str, float] | None:
        """The evaluation title ``text`` near-duplicates, with the similarity, or ``None``."""
        norm = normalise(text)
        if norm in self._exact:
            return self.texts[self._exact[norm]], 1.0
        grams = trigrams(text)
        shared: dict[int, int] = defaultdict(int)
        for gram in grams:
            for i in self._by_gram.get(gram, ()):
                shared[i] += 1
        best: tuple[str, float] | None = None
        for i, common in shared.items():
            union = len(grams) + len(self._grams[i]) - common
            score = common / union if union else 0.0
            if score >= self.threshold and (best is None or score > best[1]):
                best = (self.texts[i], score)
        return best


def leaks(train_texts: Sequence[str], index: EvalIndex) -> list[tuple[str, str, float]]:
    """``(training text, evaluation text, similarity)`` for every near-duplicate."""
    found = []
    for text in train_texts:
        hit = index.match(text)
        if hit is not None:
            found.append((text, hit[0], round(hit[1], 3)))
    return found
