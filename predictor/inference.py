"""The forward pass: token ids → softmax → arg-max and top-k, under ``torch.inference_mode``.

Every method here is blocking; :class:`~predictor.model.CategoryModel` calls them on its one
dedicated torch thread, never on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from core.names import Runtime
from predictor.batches import ClassifyRequest, EncodedBatch, Limits, Prediction, Task

log = logging.getLogger(__name__)


class Classifier:
    """A loaded sequence classifier with its tokenizer and label names (runtime "transformers")."""

    runtime = Runtime.TRANSFORMERS
    task: Task = "classification"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Tokenizer,
        labels: Sequence[str],
        *,
        device: torch.device,
        version: str,
        max_length: int,
        max_positions: int,
        vocab_size: int,
        type_vocab_size: int,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels: tuple[str, ...] = tuple(labels)
        self.device = device
        self.version = version
        self.max_length = max_length
        self.max_positions = max_positions
        self.vocab_size = vocab_size
        self.type_vocab_size = type_vocab_size

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

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
        if request.encoded is None:
            raise ValueError("a transformer classifier takes texts or token ids")
        return self.classify(request.encoded, request.top_k)

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        """Tokenize texts (truncated at ``max_length``, padded to the longest)."""
        encodings = self.tokenizer.encode_batch_fast(list(texts))
        return EncodedBatch(
            input_ids=np.asarray([e.ids for e in encodings], dtype=np.int64),
            attention_mask=np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            token_type_ids=np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        )

    def classify_texts(self, texts: Sequence[str], top_k: int) -> Prediction:
        """Tokenize and classify raw texts."""
        return self.classify(self.encode(texts), top_k)

    def classify(self, batch: EncodedBatch, top_k: int) -> Prediction:
        """Classify a validated batch; ``top_k`` is clamped to the number of labels."""
        k = max(1, min(top_k, len(self.labels)))
        batch = trim_padding(batch)
        tensors = {
            "input_ids": _to_device(batch.input_ids, self.device),
            "attention_mask": _to_device(batch.attention_mask, self.device),
        }
        if batch.token_type_ids is not None:
            tensors["token_type_ids"] = _to_device(batch.token_type_ids, self.device)
        with torch.inference_mode():
            logits = self.model(**tensors).logits.float()
            probs = torch.softmax(logits, dim=-1)
            top_scores, top_ids = torch.topk(probs, k, dim=-1)
        top_ids_np = top_ids.cpu().numpy().astype(np.int64, copy=False)
        top_scores_np = top_scores.cpu().numpy().astype(np.float32, copy=False)
        return Prediction(
            label_ids=np.ascontiguousarray(top_ids_np[:, 0]),
            scores=np.ascontiguousarray(top_scores_np[:, 0]),
            top_ids=top_ids_np,
            top_scores=top_scores_np,
        )

    def warm_up(self) -> None:
        """One small forward pass so the first request does not pay for lazy initialisation."""
        self.classify_texts(["warm-up"], 1)


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


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor
