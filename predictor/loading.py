"""Load a model directory into a ready :class:`~predictor.inference.Classifier`.

A model directory is what ``save_pretrained`` writes for a sequence classifier
(``config.json`` with ``id2label``, ``model.safetensors``) plus ``tokenizer.json`` and our
``catmatch.json``. Loading never touches the network (``HF_HUB_OFFLINE=1``). Issue #4's
versioned model store resolves a directory first, then calls :func:`load_classifier`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.modelformat import DEFAULT_VERSION, ModelMetadata, check_model_dir, read_metadata
from core.offline import force_offline
from predictor.cpu import inference_threads
from predictor.token_classifier import TokenSpace

if TYPE_CHECKING:
    from predictor.inference import Classifier

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]


def resolve_device(device: Device) -> Any:
    """``auto`` → CUDA when available, else CPU. Asking for ``cuda`` without one is an error."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def labels_from_config(config: Any) -> list[str]:
    """Class names in id order from ``config.id2label`` (ids must be 0..n-1)."""
    return labels_from_id2label(config.id2label)


def labels_from_id2label(mapping: Mapping[Any, Any] | None) -> list[str]:
    """Class names in id order from an ``id2label`` mapping (ids must be 0..n-1)."""
    id2label = {int(k): str(v) for k, v in (mapping or {}).items()}
    if sorted(id2label) != list(range(len(id2label))) or not id2label:
        raise ValueError(f"config.json id2label must map 0..n-1, got {sorted(id2label)}")
    return [id2label[i] for i in range(len(id2label))]


def check_card_labels(model_dir: Path, metadata: ModelMetadata | None, labels: list[str]) -> None:
    """A card that names labels must name the model's, in the same order."""
    if metadata is not None and metadata.labels and list(metadata.labels) != labels:
        raise ValueError(
            f"{model_dir}: catmatch.json labels {metadata.labels} differ from config.json "
            f"id2label {labels}"
        )


def load_classifier(
    model_dir: Path, device: Device = "auto", max_length: int = 128
) -> Classifier:
    """Load weights, config, tokenizer and ``catmatch.json`` into a ready Classifier.

    On CUDA the weights are cast to fp16; on CPU they stay fp32. torch's intra-op threads are
    set from the CPU quota (:func:`~predictor.cpu.inference_threads`), for the whole process.
    """
    force_offline()
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from predictor.inference import Classifier

    hf_logging.disable_progress_bar()
    model_dir = check_model_dir(model_dir)
    torch_device = resolve_device(device)
    torch.set_num_threads(inference_threads())
    dtype = torch.float16 if torch_device.type == "cuda" else torch.float32
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, local_files_only=True, dtype=dtype
    )
    model.to(torch_device).eval()
    config = model.config
    labels = labels_from_config(config)
    metadata = read_metadata(model_dir)
    check_card_labels(model_dir, metadata, labels)
    version = metadata.version if metadata is not None else DEFAULT_VERSION
    space = TokenSpace.from_config(model_dir, config.to_dict(), labels, version, max_length)
    classifier = Classifier(model, space, device=torch_device)
    log.info(
        "loaded %s version=%s labels=%d device=%s dtype=%s max_length=%d threads=%d",
        model_dir, version, len(labels), torch_device, dtype, space.max_length,
        torch.get_num_threads(),
    )
    return classifier
