"""Turn consumed bytes into products, or into the reason they cannot be classified.

Hostile input is expected: every way a value can fail ends in an :class:`Invalid` with an
error class and a reason, never in an exception. JSON nesting is bounded *before* decoding
(Python's decoder recurses and raises ``RecursionError`` a thousand levels down); integers
too long to convert, lone surrogates, NaN and infinities are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate

from pydantic import ValidationError

from schemas import ErrorClass, ProductMessage, product_text

DEFAULT_MAX_DEPTH = 32
# A JSON string, escapes included; what is inside cannot nest.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


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


def json_depth(value: bytes, limit: int) -> int:
    """How deep ``value`` nests arrays and objects, counted up to ``limit + 1`` (cheap when
    it has few brackets; brackets inside strings do not count)."""
    if value.count(b"[") + value.count(b"{") <= limit:
        return min(limit, value.count(b"[") + value.count(b"{"))
    brackets = _JSON_STRING.sub(b"", value).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


def parse_product(
    value: bytes | None, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> ProductMessage | Invalid:
    """Validate one message value.

    Args:
        value: the raw Kafka message value (``None`` for a tombstone).
        max_bytes: larger values are rejected before parsing.
        max_depth: deeper JSON nesting is rejected before decoding.
    """
    if value is None or not value.strip():
        return Invalid(ErrorClass.INVALID_JSON, "empty message value")
    if len(value) > max_bytes:
        return Invalid(ErrorClass.TOO_LARGE, f"message is {len(value)} bytes, limit {max_bytes}")
    depth = json_depth(value, max_depth)
    if depth > max_depth:
        return Invalid(ErrorClass.TOO_DEEP, f"JSON nests deeper than {max_depth} levels")
    try:
        data = json.loads(value)
    except RecursionError:
        return Invalid(ErrorClass.TOO_DEEP, "JSON nests too deep to decode")
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return Invalid(ErrorClass.INVALID_JSON, f"not JSON: {str(exc)[:300]}")
    if not isinstance(data, dict):
        return Invalid(ErrorClass.INVALID_SCHEMA, f"expected an object, got {type(data).__name__}")
    try:
        product = ProductMessage.model_validate(data)
    except ValidationError as exc:
        return Invalid(ErrorClass.INVALID_SCHEMA, _describe(exc))
    if not any(c.isalnum() for c in product_text(product)):
        return Invalid(ErrorClass.EMPTY_TEXT, "title has no letters or digits to classify")
    return product
