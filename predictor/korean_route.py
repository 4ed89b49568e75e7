"""The Korean route: rows spelled in Hangul are labelled by a character n-gram model.

An English WordPiece vocabulary such as all-MiniLM-L6-v2's can spell Hangul only as single
jamo (BERT normalisation decomposes each syllable), and a model pre-trained on English has
learnt nothing from them: fine-tuned on the synthetic Korean titles it labels about 43 % of
the Korean hand-written titles right, where a TF-IDF model over character 2–4-grams labels
about 84 % (docs/TRAINING.md). So a version of such a base carries that second model too:

- ``korean/model.joblib``: a scikit-learn pipeline (``training.baseline``'s recipe) fitted by
  ``catmatch train`` on the training texts *as the predictor sees them*, i.e. tokenized with
  the version's own ``tokenizer.json`` and decoded back (lower case, jamo recomposed into
  syllables, spaces around punctuation, pieces the vocabulary lacks dropped);
- ``catmatch.json`` ``korean_route``: ``{"model_file": "korean/model.joblib",
  "temperature": T}`` (the route's own calibration, fitted on validation).

The worker is unchanged: it tokenizes every title with the version's tokenizer and sends
token ids. :class:`~predictor.token_classifier.TokenClassifier` sends a row whose ids include
a Hangul piece here, decodes it, and scores it with the pipeline; every other row goes
through the network. The route's probabilities come back as logits scaled so that the
version's temperature turns them into the route's own calibrated scores:
``softmax((log p · T_version / T_route) / T_version) = softmax(log p / T_route)``.

**The English blend** (``blend_weight`` w in the entry, 0 when absent): every other row is
scored by the network *and* the pipeline, and served with the weighted geometric mean of
their calibrated probabilities, ``p ∝ p_network^(1 − w) · p_route^w``. The two models err
differently (word pieces against character and word n-grams): on the English hand-written
titles the blend is right about two points more often than the network alone, and the int8
export loses a quarter of a point instead of almost one (docs/TRAINING.md, "The n-gram
blend").
It is returned, like the route's rows, as logits that the version's temperature turns into
those scores: ``T_version · ((1 − w) · log softmax(z / T_version) + w · log softmax(log p /
T_route))``.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

log = logging.getLogger(__name__)

ROUTE_KEY = "korean_route"  # catmatch.json
ROUTE_DIR = "korean"
ROUTE_FILE = f"{ROUTE_DIR}/model.joblib"
_FLOOR = np.float32(-1e4)  # log(0): a class the pipeline never saw


def is_hangul(ch: str) -> bool:
    """Hangul syllables, conjoining jamo and compatibility jamo."""
    code = ord(ch)
    return (0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F
            or 0xA960 <= code <= 0xA97F or 0xD7B0 <= code <= 0xD7FF)


def checked_blend_weight(weight: float) -> float:
    """``weight`` if it is a blend weight (0 ≤ w < 1: the network always keeps a share)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"{ROUTE_KEY}.blend_weight must be in [0, 1), got {weight}")
    return weight


def hangul_pieces(tokenizer: Tokenizer) -> np.ndarray:
    """A boolean mask over the vocabulary: True for each piece that holds a Hangul letter."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    mask = np.zeros(max(vocab.values(), default=-1) + 1, dtype=bool)
    for piece, index in vocab.items():
        if any(is_hangul(ch) for ch in piece):
            mask[index] = True
    return mask


def as_seen(tokenizer: Tokenizer, ids: Sequence[Sequence[int]]) -> list[str]:
    """The texts behind token ids, as the route reads them (special tokens and padding
    skipped, jamo recomposed into syllables)."""
    decoded = tokenizer.decode_batch([list(map(int, row)) for row in ids],
                                     skip_special_tokens=True)
    return [unicodedata.normalize("NFC", text) for text in decoded]


def seen_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> list[str]:
    """``texts`` tokenized with ``tokenizer`` (as configured: truncated) and decoded back:
    what the route will be given for them at serving time. Training fits on these."""
    rows = tokenizer.encode_batch_fast(list(texts))
    return as_seen(tokenizer, [r.ids for r in rows])


@dataclass(frozen=True)
class KoreanRoute:
    """A loaded route: the pipeline, its temperature and the Hangul mask of the vocabulary."""

    pipeline: Any
    temperature: float
    hangul: np.ndarray  # bool per token id
    num_labels: int
    blend_weight: float = 0.0  # the pipeline's share of every other row (the English blend)

    @classmethod
    def load(cls, model_dir: Path, entry: Mapping[str, Any], tokenizer: Tokenizer,
             num_labels: int) -> KoreanRoute:
        import joblib  # only a version that has a route needs scikit-learn

        path = Path(model_dir) / str(entry.get("model_file") or ROUTE_FILE)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found ({ROUTE_KEY} in catmatch.json)")
        temperature = float(entry.get("temperature") or 1.0)
        if not temperature > 0:
            raise ValueError(f"{ROUTE_KEY}.temperature must be > 0, got {temperature}")
        weight = checked_blend_weight(float(entry.get("blend_weight") or 0.0))
        route = cls(joblib.load(path), temperature, hangul_pieces(tokenizer), num_labels,
                    weight)
        log.info("korean route from %s (temperature %.4g, blend weight %.3g)", path,
                 temperature, weight)
        return route

    def rows(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Which rows of a batch hold at least one Hangul piece (padding ignored)."""
        ids = np.clip(input_ids, 0, len(self.hangul) - 1)
        hits: np.ndarray = (self.hangul[ids] & (attention_mask != 0)).any(axis=1)
        return hits

    def _log_probs(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        classes = np.asarray(self.pipeline.classes_, dtype=np.int64)
        probs[:, classes] = self.pipeline.predict_proba(list(texts))
        with np.errstate(divide="ignore"):
            logp = np.log(probs)
        floored: np.ndarray = np.where(np.isfinite(logp), logp, _FLOOR).astype(np.float32)
        return floored

    def logits(self, texts: Sequence[str], version_temperature: float) -> np.ndarray:
        """``[B, C]`` logits for decoded texts, scaled for the version's temperature."""
        scaled: np.ndarray = self._log_probs(texts) * np.float32(
            version_temperature / self.temperature)
        return scaled

    def blend(self, texts: Sequence[str], network: np.ndarray,
              version_temperature: float) -> np.ndarray:
        """The network's ``[B, C]`` logits for decoded ``texts`` blended with the pipeline's
        (the module docstring), scaled for the version's temperature."""
        w = np.float32(self.blend_weight)
        mine = _log_softmax(self._log_probs(texts) / np.float32(self.temperature))
        theirs = _log_softmax(network.astype(np.float32) / np.float32(version_temperature))
        mixed: np.ndarray = ((1 - w) * theirs + w * mine) * np.float32(version_temperature)
        return mixed


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out
