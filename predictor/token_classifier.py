"""Texts to token ids to scores: what the two neural runtimes share (numpy, no torch here).

The transformers runtime (:mod:`predictor.inference`) and the ONNX runtime
(:mod:`predictor.onnx_runtime`) subclass :class:`TokenClassifier`: they tokenize, trim, split
and score with these same functions, so the two answer the same label, score and top-k for
the same logits.

- :func:`tokenize_texts`: the model's ``tokenizer.json`` (configured by
  :func:`core.tokenization.configure`: truncated, padded to the longest row) → int64 arrays.
- :func:`trim_padding`: drop trailing columns that are padding in every row.
- :func:`forward_sorted`: run a forward pass over length-sorted sub-batches, each padded only
  to its own longest row, and put the logits back in request order.
- scores → answers: :mod:`predictor.scoring` (softmax, arg-max, top-k).
- a version with a Korean route (:mod:`predictor.korean_route`) labels its Hangul rows with
  the route's character n-gram model and the other rows with the network, blended with that
  model where the route has a ``blend_weight`` (:meth:`TokenClassifier.served_logits`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from core.modelformat import card_temperature, read_metadata
from core.names import Runtime
from core.tokenization import HARD_MAX_LENGTH, effective_max_length, load_tokenizer
from predictor.batches import ClassifyRequest, Limits, Prediction, Task, TokenizedBatch
from predictor.korean_route import ROUTE_KEY, KoreanRoute, as_seen
from predictor.scoring import softmax, top_k_prediction

# Rows per forward pass when a batch is split by length (0 or less: never split). Shop
# titles are short on average but not uniform (the 1,024 speed titles: 18 MiniLM tokens on
# average, 48 at most): a batch of 64 padded to its longest row is 61 % padding there, split
# into length-sorted sub-batches of 16 it is 23 %.
# Measured on the default model, batch 64, as served, by scripts/bench_cpu_serving.py
# (docs/BENCHMARKS.md, "Sub-batches and layer norms"): of 0/8/16/32, 16 was the best for
# ONNX int8 (1.4x its speed unsplit) and 32 for torch fp32 on the CPU (1.15x).
ONNX_SUB_BATCH = 16  # ONNX Runtime on the CPU
TORCH_CPU_SUB_BATCH = 32  # torch on the CPU (a GPU: one call per batch)


def tokenize_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> TokenizedBatch:
    """Tokenize ``texts`` with a configured tokenizer (truncated, padded to the longest)."""
    rows = tokenizer.encode_batch_fast(list(texts))
    return TokenizedBatch(
        input_ids=np.asarray([r.ids for r in rows], dtype=np.int64),
        attention_mask=np.asarray([r.attention_mask for r in rows], dtype=np.int64),
        token_type_ids=np.asarray([r.type_ids for r in rows], dtype=np.int64),
    )


def trim_padding(batch: TokenizedBatch) -> TokenizedBatch:
    """Drop trailing columns that are padding in every row (a client padded to a fixed length)."""
    mask = batch.attention_mask
    if mask.shape[1] == 0:
        return batch
    used = np.flatnonzero(mask.any(axis=0))
    length = int(used[-1]) + 1 if used.size else mask.shape[1]
    if length == mask.shape[1]:
        return batch
    return TokenizedBatch(
        input_ids=batch.input_ids[:, :length],
        attention_mask=mask[:, :length],
        token_type_ids=None if batch.token_type_ids is None else batch.token_type_ids[:, :length],
    )


def take_rows(batch: TokenizedBatch, rows: np.ndarray) -> TokenizedBatch:
    """The rows ``rows`` of ``batch`` (in that order), trailing padding trimmed."""
    return trim_padding(
        TokenizedBatch(
            input_ids=batch.input_ids[rows],
            attention_mask=batch.attention_mask[rows],
            token_type_ids=None if batch.token_type_ids is None else batch.token_type_ids[rows],
        )
    )


def forward_sorted(
    batch: TokenizedBatch, forward: Callable[[TokenizedBatch], np.ndarray], sub_batch: int
) -> np.ndarray:
    """Logits ``[B, C]`` of ``forward`` over the whole batch, in request order.

    With ``0 < sub_batch < B`` the rows are sorted by length and run ``sub_batch`` at a time,
    each chunk padded only to its own longest row; otherwise one call on the trimmed batch.
    """
    if sub_batch <= 0 or batch.rows <= sub_batch:
        return forward(trim_padding(batch))
    lengths = batch.attention_mask.sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    parts = [
        forward(take_rows(batch, order[start : start + sub_batch]))
        for start in range(0, batch.rows, sub_batch)
    ]
    logits = np.empty((batch.rows, parts[0].shape[1]), dtype=parts[0].dtype)
    logits[order] = np.concatenate(parts)
    return logits


@dataclass(frozen=True, slots=True)
class TokenSpace:
    """What a token-id classifier accepts and answers: its tokenizer, label names and limits."""

    tokenizer: Tokenizer
    labels: tuple[str, ...]
    version: str
    max_length: int  # texts are truncated here (at most ``max_positions``)
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    temperature: float = 1.0  # calibration (catmatch.json), applied in predictor.scoring
    korean: KoreanRoute | None = None  # catmatch.json korean_route

    @classmethod
    def from_config(
        cls,
        model_dir: Path,
        config: Mapping[str, Any],
        labels: Sequence[str],
        version: str,
        max_length: int,
    ) -> TokenSpace:
        """From a Hugging Face ``config.json`` (as a dict) and the model's tokenizer.json."""
        max_positions = int(config.get("max_position_embeddings") or HARD_MAX_LENGTH)
        length = effective_max_length(max_length, max_positions)
        tokenizer = load_tokenizer(model_dir, length)
        card = read_metadata(model_dir)
        entry = (card.model_extra or {}).get(ROUTE_KEY) if card is not None else None
        korean = (KoreanRoute.load(model_dir, entry, tokenizer, len(labels))
                  if isinstance(entry, Mapping) else None)
        return cls(
            tokenizer=tokenizer,
            labels=tuple(labels),
            version=version,
            max_length=length,
            max_positions=max_positions,
            vocab_size=int(config.get("vocab_size") or tokenizer.get_vocab_size()),
            type_vocab_size=int(config.get("type_vocab_size") or 1),
            temperature=card_temperature(card),
            korean=korean,
        )


class TokenClassifier:
    """What the transformers and onnx runtimes share: a sequence classifier over token ids.

    A subclass implements :meth:`logits` (one forward pass on a batch, fp32 ``[B, C]``);
    tokenizing, trimming, sub-batching, softmax and top-k are done here, the same way for
    both, so they answer alike.
    """

    runtime: Runtime
    task: Task = "classification"
    tokenizer: Tokenizer
    labels: tuple[str, ...]
    max_positions: int
    vocab_size: int
    type_vocab_size: int
    sub_batch: int
    _untruncated: Tokenizer | None = None  # for count_tokens, made on first use

    def __init__(self, space: TokenSpace, sub_batch: int) -> None:
        self.tokenizer = space.tokenizer
        self.labels = space.labels
        self.version = space.version
        self.max_length = space.max_length
        self.max_positions = space.max_positions
        self.vocab_size = space.vocab_size
        self.type_vocab_size = space.type_vocab_size
        self.temperature = space.temperature
        self.korean = space.korean
        self.sub_batch = sub_batch

    def logits(self, batch: TokenizedBatch) -> np.ndarray:
        raise NotImplementedError

    def limits(self, max_batch_size: int, default_top_k: int) -> Limits:
        """What requests may send: texts, or token ids within the model's vocabulary."""
        return Limits(
            max_batch_size=max_batch_size,
            max_positions=self.max_positions,
            vocab_size=self.vocab_size,
            type_vocab_size=self.type_vocab_size,
            num_labels=len(self.labels),
            default_top_k=default_top_k,
        )

    def run(self, request: ClassifyRequest) -> Prediction:
        """Classify a decoded request's texts or token ids."""
        if request.texts is not None:
            return self.classify_texts(request.texts, request.top_k)
        if request.tokens is None:
            raise ValueError(f"a {self.runtime} classifier takes texts or token ids")
        return self.classify(request.tokens, request.top_k)

    def tokenize(self, texts: Sequence[str]) -> TokenizedBatch:
        """Tokenize texts (truncated at ``max_length``, padded to the longest)."""
        return tokenize_texts(self.tokenizer, texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's token count before truncation (special tokens included).

        Uses a copy of the tokenizer without truncation or padding, made on first use: the
        model thread may be tokenizing with the configured one at the same time.
        """
        counter = self._untruncated
        if counter is None:
            counter = Tokenizer.from_str(self.tokenizer.to_str())
            counter.no_truncation()
            counter.no_padding()
            self._untruncated = counter
        return [len(e.ids) for e in counter.encode_batch(list(texts))]

    def classify_texts(self, texts: Sequence[str], top_k: int) -> Prediction:
        """Tokenize and classify raw texts."""
        return self.classify(self.tokenize(texts), top_k)

    def classify(self, batch: TokenizedBatch, top_k: int) -> Prediction:
        """Classify a validated batch; ``top_k`` is clamped to the number of labels."""
        return top_k_prediction(softmax(self.served_logits(batch), self.temperature), top_k)

    def served_logits(self, batch: TokenizedBatch) -> np.ndarray:
        """Logits ``[B, C]`` in request order as served: the network's (blended with the
        route's n-gram model where it has a ``blend_weight``), except for the rows a Korean
        route takes (Hangul pieces), which its character n-gram model scores alone."""
        route = self.korean
        if route is None:
            return forward_sorted(batch, self.logits, self.sub_batch)
        korean = route.rows(batch.input_ids, batch.attention_mask)
        if not korean.any() and not route.blend_weight:
            return forward_sorted(batch, self.logits, self.sub_batch)
        out = np.empty((batch.rows, len(self.labels)), dtype=np.float32)
        rest = np.flatnonzero(~korean)
        if rest.size:
            network = forward_sorted(take_rows(batch, rest), self.logits, self.sub_batch)
            if route.blend_weight:
                network = route.blend(self._seen(batch, rest), network, self.temperature)
            out[rest] = network
        rows = np.flatnonzero(korean)
        if rows.size:
            out[rows] = route.logits(self._seen(batch, rows), self.temperature)
        return out

    def _seen(self, batch: TokenizedBatch, rows: np.ndarray) -> list[str]:
        """The texts behind ``rows`` of a batch, as the n-gram route reads them."""
        return as_seen(self.tokenizer, [batch.input_ids[i][batch.attention_mask[i] != 0]
                                        for i in rows])

    def warm_up(self) -> None:
        """One small pass, so the first request pays no lazy initialisation and a broken
        model fails at load, not on traffic."""
        self.classify_texts(["warm-up"], 1)
