"""Pick and load a model directory's runtime, and the contract every runtime meets.

A runtime turns a model directory into a :class:`ModelRuntime`, which
:class:`~predictor.model.CategoryModel` serves over V1/V2. Three ship here: ``transformers``
(:class:`~predictor.inference.Classifier`), ``onnx``
(:class:`~predictor.onnx_runtime.OnnxClassifier`, a transformer exported to ONNX and run by
ONNX Runtime) and ``sklearn`` (:class:`~predictor.sklearn_runtime.SklearnModel`). The runtime
is chosen per deployment (``--runtime``) or, with ``auto``, per directory: ``catmatch.json``'s
``runtime`` field, else the files present. Each loader imports its own stack (torch and
transformers, onnxruntime, or joblib and sklearn) when it runs, so neither an sklearn nor an
onnx deployment imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from core.modelformat import (
    ONNX_MODEL_FILE,
    has_torch_weights,
    read_metadata,
    sklearn_model_files,
)
from core.names import AUTO_RUNTIME, RUNTIMES, Runtime, RuntimeName
from predictor.batches import ClassifyRequest, Limits, Prediction, Regression, Task
from predictor.loading import load_classifier
from predictor.onnx_runtime import load_onnx
from predictor.sklearn_runtime import load_sklearn

__all__ = ["ModelRuntime", "RuntimeName", "detect_runtime", "load_runtime"]


class ModelRuntime(Protocol):
    """A loaded model version, whatever its runtime.

    ``labels`` are the class names in label-id order (empty for regression); ``version`` is
    the card's version; ``device`` is where its tensors live (``None`` when there are none).
    ``run`` is the prediction: blocking, called on the predictor's one model thread.
    """

    runtime: Runtime
    task: Task
    version: str
    labels: tuple[str, ...]
    device: Any

    def limits(self, max_batch_size: int, default_top_k: int) -> Limits:
        """What requests to this model may contain."""
        ...

    def run(self, request: ClassifyRequest) -> Prediction | Regression:
        """Predict for one decoded request."""
        ...

    def warm_up(self) -> None:
        """One small prediction so that a broken model fails at load, not on traffic."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Each text's token count before truncation; ``None`` when the model reads raw
        text in its own pipeline (then no token limit applies)."""
        ...


def detect_runtime(model_dir: Path) -> Runtime:
    """The directory's runtime: its card says so, else a joblib/pickle file without
    ``config.json`` means sklearn, ``model.onnx`` without torch weights means onnx, else
    transformers."""
    model_dir = Path(model_dir)
    card = read_metadata(model_dir) if model_dir.is_dir() else None
    declared = (card.model_extra or {}).get("runtime") if card is not None else None
    if declared is not None:
        if declared not in RUNTIMES:
            raise ValueError(f"{model_dir}: unknown runtime {declared!r}; use one of {RUNTIMES}")
        return Runtime(declared)
    if (
        model_dir.is_dir()
        and not (model_dir / "config.json").exists()
        and sklearn_model_files(model_dir)
    ):
        return Runtime.SKLEARN
    if (
        model_dir.is_dir()
        and (model_dir / ONNX_MODEL_FILE).is_file()
        and not has_torch_weights(model_dir)
    ):
        return Runtime.ONNX
    return Runtime.TRANSFORMERS


def load_runtime(
    model_dir: Path,
    runtime: RuntimeName = "auto",
    *,
    device: Any = "auto",
    max_length: int = 128,
) -> ModelRuntime:
    """Load ``model_dir`` with ``runtime`` (``auto``: :func:`detect_runtime`)."""
    name = detect_runtime(model_dir) if runtime == AUTO_RUNTIME else runtime
    if name == Runtime.SKLEARN:
        return load_sklearn(model_dir)
    if name == Runtime.ONNX:
        return load_onnx(model_dir, device, max_length)
    if name != Runtime.TRANSFORMERS:
        raise ValueError(f"unknown runtime {name!r}; use one of {RUNTIMES}")
    return load_classifier(model_dir, device, max_length)
