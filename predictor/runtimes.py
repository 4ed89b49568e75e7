"""Pick and load a model directory's runtime: ``transformers`` or ``sklearn``.

Both load into an object with the same surface, which :class:`~predictor.model.CategoryModel`
serves over V1/V2: ``version``, ``labels``, ``task``, ``limits(max_batch_size, top_k)``,
``run(request)`` and ``warm_up()``. The runtime is chosen per deployment (``--runtime``) or,
with ``auto``, per directory: ``catmatch.json``'s ``runtime`` field, else the files present.
Each loader imports its own stack, so an sklearn deployment never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from predictor.metadata import read_metadata

RUNTIMES = ("transformers", "sklearn")
RuntimeName = Literal["auto", "transformers", "sklearn"]


def detect_runtime(model_dir: Path) -> str:
    """The directory's runtime: its card says so, else a joblib/pickle file without
    ``config.json`` means sklearn, else transformers."""
    from predictor.sklearn_runtime import MODEL_SUFFIXES

    model_dir = Path(model_dir)
    card = read_metadata(model_dir) if model_dir.is_dir() else None
    declared = (card.model_extra or {}).get("runtime") if card is not None else None
    if declared is not None:
        if declared not in RUNTIMES:
            raise ValueError(f"{model_dir}: unknown runtime {declared!r}; use one of {RUNTIMES}")
        return str(declared)
    if model_dir.is_dir() and not (model_dir / "config.json").exists() and any(
        p.suffix in MODEL_SUFFIXES for p in model_dir.iterdir()
    ):
        return "sklearn"
    return "transformers"


def load_runtime(
    model_dir: Path,
    runtime: RuntimeName = "auto",
    *,
    device: Any = "auto",
    max_length: int = 128,
) -> Any:
    """Load ``model_dir`` with ``runtime`` (``auto``: :func:`detect_runtime`)."""
    name = detect_runtime(model_dir) if runtime == "auto" else runtime
    if name == "sklearn":
        from predictor.sklearn_runtime import load_sklearn

        return load_sklearn(model_dir)
    if name != "transformers":
        raise ValueError(f"unknown runtime {name!r}; use one of {RUNTIMES}")
    from predictor.loading import load_classifier

    return load_classifier(model_dir, device, max_length)
