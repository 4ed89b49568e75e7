"""The model-directory format: which files make a servable version, and its card.

A transformer directory is what ``save_pretrained`` writes for a sequence classifier
(``config.json`` with ``id2label``, ``model.safetensors``) plus ``tokenizer.json``; an ONNX
directory holds ``model.onnx`` and ``tokenizer.json`` (plus the source's ``config.json``); an
sklearn directory holds one joblib/pickle file. All carry ``catmatch.json``, the model card::

    {"name": "category-match-seed", "version": "seed-1a2b3c4d", "labels": ["...", ...],
     "base_model": "sentence-transformers/all-MiniLM-L6-v2", "created": "2026-11-26T12:00:00Z",
     "data_hash": "1a2b3c4d5e6f...", "metrics": {"accuracy": 0.92}}

``labels[i]`` is the name of class ``i`` and must agree with ``config.json``'s ``id2label``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

METADATA_FILE = "catmatch.json"
TOKENIZER_FILE = "tokenizer.json"
DEFAULT_VERSION = "0"
# A transformer directory needs these (plus weights: *.safetensors or pytorch_model.bin).
REQUIRED_FILES = ("config.json", TOKENIZER_FILE)
# An sklearn directory holds one estimator saved with joblib under one of these suffixes.
MODEL_SUFFIXES = (".joblib", ".pkl")
# An ONNX directory (runtime "onnx") needs these; config.json (labels, limits) is optional.
ONNX_MODEL_FILE = "model.onnx"
ONNX_REQUIRED_FILES = (ONNX_MODEL_FILE, TOKENIZER_FILE)
# catmatch.json "quantization" of an ONNX version: fp32 weights, or int8 weights
# (onnxruntime's dynamic quantisation: activations quantised per batch at run time).
QUANTIZATIONS = ("none", "dynamic-int8")


class ModelMetadata(BaseModel):
    """The model card the predictor reports (``version`` becomes ``model_version``)."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    name: str = Field(min_length=1)
    version: str = Field(default=DEFAULT_VERSION, min_length=1)
    labels: list[str] = Field(default_factory=list)
    base_model: str | None = None
    created: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    data_hash: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)


def read_json_object(path: Path) -> dict[str, Any]:
    """A model directory's optional JSON file (``config.json``, ``catmatch.json``) as a dict:
    ``{}`` when it is absent.

    Raises:
        ValueError: it is not valid JSON, or not an object.
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"invalid {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"invalid {path}: not a JSON object")
    return data


def read_metadata(model_dir: Path) -> ModelMetadata | None:
    """The directory's ``catmatch.json``, or ``None`` when it has none.

    Raises:
        ValueError: the file exists but is not a valid model card.
    """
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        return ModelMetadata.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ValueError(f"invalid {path}: {exc}") from exc


def card_temperature(metadata: ModelMetadata | None) -> float:
    """The card's softmax ``temperature`` (fitted on validation by ``catmatch train``; the
    served scores are ``softmax(logits / temperature)``); 1.0 when it has none.

    Raises:
        ValueError: the temperature is not a positive finite number.
    """
    extra = (metadata.model_extra or {}) if metadata is not None else {}
    value = extra.get("temperature", 1.0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"catmatch.json temperature must be a number, got {value!r}")
    if not 0.0 < float(value) < float("inf"):
        raise ValueError(f"catmatch.json temperature must be positive and finite, got {value}")
    return float(value)


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> Path:
    """Write ``catmatch.json`` (world-readable) and return its path."""
    path = Path(model_dir) / METADATA_FILE
    data = json.loads(metadata.model_dump_json())
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def check_model_dir(model_dir: Path) -> Path:
    """Raise ``FileNotFoundError`` unless ``model_dir`` looks like a transformer directory."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if not has_torch_weights(model_dir):
        missing.append("model.safetensors")
    if missing:
        raise FileNotFoundError(f"{model_dir} is not a model directory: missing {missing}")
    return model_dir


def has_torch_weights(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds PyTorch weights (``*.safetensors`` or ``pytorch_model.bin``)."""
    model_dir = Path(model_dir)
    return any(model_dir.glob("*.safetensors")) or (model_dir / "pytorch_model.bin").is_file()


def check_onnx_dir(model_dir: Path) -> Path:
    """Raise ``FileNotFoundError`` unless ``model_dir`` holds an ONNX model and its tokenizer."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    missing = [name for name in ONNX_REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir} is not an ONNX model directory: missing {missing}")
    return model_dir


def sklearn_model_files(model_dir: Path) -> list[Path]:
    """The estimator files (``MODEL_SUFFIXES``) directly inside ``model_dir``, sorted."""
    found = (p for p in Path(model_dir).iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES)
    return sorted(found)
