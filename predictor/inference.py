"""The forward pass: token ids → logits under ``torch.inference_mode`` → softmax and top-k.

Tokenizing, trimming, length-sorted sub-batches and scoring are the numpy steps of
:mod:`predictor.token_classifier`, shared with the ONNX runtime. Every method here is blocking;
:class:`~predictor.model.CategoryModel` calls them on its one dedicated torch thread, never
on the event loop.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from core.names import Runtime
from predictor.batches import TokenizedBatch
from predictor.token_classifier import (
    TORCH_CPU_SUB_BATCH,
    TokenClassifier,
    TokenSpace,
    trim_padding,
)

__all__ = ["Classifier", "trim_padding"]

log = logging.getLogger(__name__)


class Classifier(TokenClassifier):
    """A loaded sequence classifier with its tokenizer and label names (runtime "transformers")."""

    runtime = Runtime.TRANSFORMERS

    def __init__(
        self,
        model: torch.nn.Module,
        space: TokenSpace,
        *,
        device: torch.device,
        sub_batch: int | None = None,
    ) -> None:
        # Length-sorted sub-batches were measured on the CPU; a GPU is left one call per
        # batch (its launches cost more than the padding; not measured, no GPU here).
        if sub_batch is None:
            sub_batch = TORCH_CPU_SUB_BATCH if device.type == "cpu" else 0
        super().__init__(space, sub_batch)
        self.model = model
        self.device = device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def logits(self, batch: TokenizedBatch) -> np.ndarray:
        """fp32 logits ``[B, C]`` of one forward pass (no trimming, no splitting)."""
        tensors = {
            "input_ids": _to_device(batch.input_ids, self.device),
            "attention_mask": _to_device(batch.attention_mask, self.device),
        }
        if batch.token_type_ids is not None:
            tensors["token_type_ids"] = _to_device(batch.token_type_ids, self.device)
        with torch.inference_mode():
            logits = self.model(**tensors).logits.float()
        return np.asarray(logits.cpu().numpy(), dtype=np.float32)

def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor
