"""Helpers shared by the V1 and V2 codecs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import to_http_parameters

from predictor.batches import Limits

TOP_K_PARAMETER = "top_k"
MAX_TEXT_CHARS = 65_536


def parse_top_k(parameters: Mapping[str, Any] | None, limits: Limits) -> int:
    """The ``top_k`` request parameter (default from settings), clamped to the label count."""
    if not parameters:
        return min(limits.default_top_k, limits.num_labels)
    params = to_http_parameters(parameters) if not isinstance(parameters, dict) else parameters
    value = params.get(TOP_K_PARAMETER, limits.default_top_k)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"parameter {TOP_K_PARAMETER!r} must be a positive integer, got {value!r}"
        )
    return min(value, limits.num_labels)


def check_batch_size(rows: int, limits: Limits) -> None:
    """A batch must have 1..max_batch_size rows."""
    if rows < 1:
        raise InvalidInput("empty batch: send at least one row")
    if rows > limits.max_batch_size:
        raise InvalidInput(f"batch of {rows} rows exceeds the maximum of {limits.max_batch_size}")


def check_texts(texts: Sequence[object]) -> list[str]:
    """Texts must be strings (UTF-8 bytes are decoded) of at most ``MAX_TEXT_CHARS``."""
    out: list[str] = []
    for i, text in enumerate(texts):
        if isinstance(text, bytes | np.bytes_):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"text {i} is not valid UTF-8: {exc}") from None
        if not isinstance(text, str):
            raise InvalidInput(f"text {i} must be a string, got {type(text).__name__}")
        try:
            text.encode("utf-8")  # a lone surrogate (JSON "\ud800") is no text a tokenizer takes
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"text {i} is not valid Unicode at character {exc.start}") from None
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"text {i} has {len(text)} characters, more than {MAX_TEXT_CHARS}")
        out.append(str(text))
    return out


def check_features(array: np.ndarray | Sequence[object], limits: Limits) -> np.ndarray:
    """A ``[B, F]`` matrix of finite numbers with the model's feature count, as float64."""
    try:
        matrix = np.asarray(array, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"features must be numbers: {exc}") from None
    if matrix.ndim != 2:
        raise InvalidInput(f"features must be a [B, F] matrix, got {matrix.ndim} dimensions")
    width = limits.num_features
    if width is not None and matrix.shape[1] != width:
        raise InvalidInput(f"each row needs {width} features, got {matrix.shape[1]}")
    if not np.isfinite(matrix).all():
        raise InvalidInput("features must be finite (no NaN or infinity)")
    return np.ascontiguousarray(matrix)


def label_array(labels: Sequence[str]) -> np.ndarray:
    """Labels as a numpy object array, for fancy indexing by class id."""
    arr = np.empty(len(labels), dtype=object)
    arr[:] = list(labels)
    return arr
