"""The forward pass: token ids → logits under ``torch.inference_mode`` → softmax and top-k.

Tokenizing, trimming, length-sorted sub-batches and scoring are the numpy steps of
:mod:`predictor.encoding`, shared with the ONNX runtime. Every method here is blocking;
:class:`~predictor.model.CategoryModel` calls them on its one dedicated torch thread, never
on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer

from core.names import Runtime
from predictor.batches import ClassifyRequest, EncodedBatch, Limits, Prediction, Task
from predictor.encoding import (
    DEFAULT_SUB_BATCH,
    encode_texts,
    forward_sorted,
    softmax,
    top_k_prediction,
    trim_padding,
)

__all__ = ["Classifier", "trim_padding"]

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
        sub_batch: int = DEFAULT_SUB_BATCH,
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
        self.sub_batch = sub_batch

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
        return encode_texts(self.tokenizer, texts)

    def classify_texts(self, texts: Sequence[str], top_k: int) -> Prediction:
        """Tokenize and classify raw texts."""
        return self.classify(self.encode(texts), top_k)

    def classify(self, batch: EncodedBatch, top_k: int) -> Prediction:
        """Classify a validated batch; ``top_k`` is clamped to the number of labels."""
        logits = forward_sorted(batch, self.logits, self.sub_batch)
        return top_k_prediction(softmax(logits), top_k)

    def logits(self, batch: EncodedBatch) -> np.ndarray:
        """fp32 logits ``[B, C]`` of one forward pass (no trimming, no splitting)."""
        tensors = {
            "input_ids": _to_device(batch.input_ids, self.device),
            "attention_mask": _to_device(batch.attention_mask, self.device),
        }
        if batch.token_type_ids is not None:
            tensors["token_type_ids"] = _to_device(batch.token_type_ids, self.device)
        with torch.inference_mode():
            logits = self.model(**tensors).logits.float()
        return logits.cpu().numpy()

    def warm_up(self) -> None:
        """One small forward pass so the first request does not pay for lazy initialisation."""
        self.classify_texts(["warm-up"], 1)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor
