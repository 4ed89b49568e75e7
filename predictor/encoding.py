"""Token ids in, class scores out: the numpy steps every neural runtime shares (no torch here).

The transformers runtime (:mod:`predictor.inference`) and the ONNX runtime
(:mod:`predictor.onnx_runtime`) tokenize, trim, split and score with these same functions, so
the two answer the same label, score and top-k for the same logits.

- :func:`encode_texts`: the model's ``tokenizer.json`` (configured by
  :func:`core.tokenization.configure`: truncated, padded to the longest row) → int64 arrays.
- :func:`trim_padding`: drop trailing columns that are padding in every row.
- :func:`forward_sorted`: run a forward pass over length-sorted sub-batches, each padded only
  to its own longest row, and put the logits back in request order.
- :func:`softmax` / :func:`top_k_prediction`: fp32 softmax, arg-max and the ``K`` best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from tokenizers import Tokenizer

from predictor.batches import EncodedBatch, Prediction

# Rows per forward pass when a batch is split by length (0 or less: never split, the
# default). Product titles vary little in length, so there is little padding to save;
# splitting is meant for long-tailed inputs such as descriptions (not benchmarked yet).
DEFAULT_SUB_BATCH = 0


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> EncodedBatch:
    """Tokenize ``texts`` with a configured tokenizer (truncated, padded to the longest)."""
    encodings = tokenizer.encode_batch_fast(list(texts))
    return EncodedBatch(
        input_ids=np.asarray([e.ids for e in encodings], dtype=np.int64),
        attention_mask=np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        token_type_ids=np.asarray([e.type_ids for e in encodings], dtype=np.int64),
    )


def trim_padding(batch: EncodedBatch) -> EncodedBatch:
    """Drop trailing columns that are padding in every row (a client padded to a fixed length)."""
    mask = batch.attention_mask
    if mask.shape[1] == 0:
        return batch
    used = np.flatnonzero(mask.any(axis=0))
    length = int(used[-1]) + 1 if used.size else mask.shape[1]
    if length == mask.shape[1]:
        return batch
    return EncodedBatch(
        input_ids=batch.input_ids[:, :length],
        attention_mask=mask[:, :length],
        token_type_ids=None if batch.token_type_ids is None else batch.token_type_ids[:, :length],
    )


def take_rows(batch: EncodedBatch, rows: np.ndarray) -> EncodedBatch:
    """The rows ``rows`` of ``batch`` (in that order), trailing padding trimmed."""
    return trim_padding(
        EncodedBatch(
            input_ids=batch.input_ids[rows],
            attention_mask=batch.attention_mask[rows],
            token_type_ids=None if batch.token_type_ids is None else batch.token_type_ids[rows],
        )
    )


def forward_sorted(
    batch: EncodedBatch, forward: Callable[[EncodedBatch], np.ndarray], sub_batch: int
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


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in fp32 (max-subtracted, so large logits do not overflow)."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def top_k_prediction(probs: np.ndarray, top_k: int, *, keep_all: bool = False) -> Prediction:
    """Arg-max, its probability and the ``top_k`` best classes of a ``[B, C]`` matrix.

    ``keep_all`` also answers every class's probability (the sklearn runtime does).
    """
    k = max(1, min(top_k, probs.shape[1]))
    # stable sort of -p: ties keep the lower class id first, like torch.topk on CPU
    top_ids = np.argsort(-probs, axis=1, kind="stable")[:, :k].astype(np.int64)
    top_scores = np.take_along_axis(probs, top_ids, axis=1).astype(np.float32)
    return Prediction(
        label_ids=np.ascontiguousarray(top_ids[:, 0]),
        scores=np.ascontiguousarray(top_scores[:, 0]),
        top_ids=top_ids,
        top_scores=top_scores,
        probabilities=probs if keep_all else None,
    )
