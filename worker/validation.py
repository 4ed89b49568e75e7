"""Turn consumed bytes into products, or into the reason they cannot be classified."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from schemas import ErrorClass, ProductMessage, product_text


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a message goes to the dead-letter topic."""

    error_class: ErrorClass
    reason: str


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_product(value: bytes | None, max_bytes: int) -> ProductMessage | Invalid:
    """Validate one message value.

    Args:
        value: the raw Kafka message value (``None`` for a tombstone).
        max_bytes: larger values are rejected before parsing.
    """
    if value is None or not value.strip():
        return Invalid(ErrorClass.INVALID_JSON, "empty message value")
    if len(value) > max_bytes:
        return Invalid(ErrorClass.TOO_LARGE, f"message is {len(value)} bytes, limit {max_bytes}")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Invalid(ErrorClass.INVALID_JSON, f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Invalid(ErrorClass.INVALID_SCHEMA, f"expected an object, got {type(data).__name__}")
    try:
        product = ProductMessage.model_validate(data)
    except ValidationError as exc:
        return Invalid(ErrorClass.INVALID_SCHEMA, _describe(exc))
    if not product_text(product).strip():
        return Invalid(ErrorClass.EMPTY_TEXT, "title has no text to classify")
    return product
