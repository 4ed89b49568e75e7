"""Turn consumed bytes into products, or into the reason they cannot be classified.

Hostile input is expected: every way a value can fail ends in an :class:`Invalid` with an
error class and a reason, never in an exception. JSON nesting is bounded *before* decoding;
the decoder (orjson) is strict: NaN, infinities, lone surrogates, integers beyond 64 bits and
invalid UTF-8 are not JSON.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from schemas import ErrorClass, ProductMessage, product_text

DEFAULT_MAX_DEPTH = 32
# A JSON string, escapes included; what is inside cannot nest.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PRODUCTS = TypeAdapter(list[ProductMessage])
_ALNUM = re.compile(r"[^\W_]")


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
    opened = value.count(b"[") + value.count(b"{")
    if opened <= limit:
        return opened
    brackets = _JSON_STRING.sub(b"", value).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


def decode(value: bytes | None, max_bytes: int, max_depth: int) -> dict[str, Any] | Invalid:
    """The JSON object in a message value, or why there is none."""
    if not value or value.isspace():  # None, empty or blank
        return Invalid(ErrorClass.INVALID_JSON, "empty message value")
    if len(value) > max_bytes:
        return Invalid(ErrorClass.TOO_LARGE, f"message is {len(value)} bytes, limit {max_bytes}")
    if json_depth(value, max_depth) > max_depth:
        return Invalid(ErrorClass.TOO_DEEP, f"JSON nests deeper than {max_depth} levels")
    try:
        data = orjson.loads(value)  # strict: no NaN, no lone surrogates, 64-bit integers
    except RecursionError:
        return Invalid(ErrorClass.TOO_DEEP, "JSON nests too deep to decode")
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        return Invalid(ErrorClass.INVALID_JSON, f"not JSON: {str(exc)[:300]}")
    if not isinstance(data, dict):
        return Invalid(ErrorClass.INVALID_SCHEMA, f"expected an object, got {type(data).__name__}")
    return data


def validate(data: dict[str, Any]) -> ProductMessage | Invalid:
    """One decoded object as a product with text to classify, or why not."""
    checked = validate_with_text(data)
    return checked if isinstance(checked, Invalid) else checked[0]


def validate_many(items: list[dict[str, Any]]) -> list[tuple[ProductMessage, str] | Invalid]:
    """:func:`validate` for a batch, each valid product with its text (:func:`product_text`,
    built once here). One pydantic call for the whole batch (several times cheaper per
    message), and one call per message only when the batch holds a bad one."""
    try:
        products = _PRODUCTS.validate_python(items)
    except ValidationError:
        return [validate_with_text(item) for item in items]
    return [_with_text(p) for p in products]


def validate_with_text(data: dict[str, Any]) -> tuple[ProductMessage, str] | Invalid:
    """:func:`validate`, with the product's text (:func:`product_text`) when it is valid."""
    try:
        product = ProductMessage.model_validate(data)
    except ValidationError as exc:
        return Invalid(ErrorClass.INVALID_SCHEMA, _describe(exc))
    return _with_text(product)


def _with_text(product: ProductMessage) -> tuple[ProductMessage, str] | Invalid:
    text = product_text(product)
    # str.isalnum on the first character settles almost every title; the regex (what
    # isalnum accepts: \w without the underscore) looks at the rest only when it must.
    if not text[:1].isalnum() and _ALNUM.search(text) is None:
        return Invalid(ErrorClass.EMPTY_TEXT, "title has no letters or digits to classify")
    return product, text


def parse_product(
    value: bytes | None, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> ProductMessage | Invalid:
    """Validate one message value.

    Args:
        value: the raw Kafka message value (``None`` for a tombstone).
        max_bytes: larger values are rejected before parsing.
        max_depth: deeper JSON nesting is rejected before decoding.
    """
    data = decode(value, max_bytes, max_depth)
    return data if isinstance(data, Invalid) else validate(data)
