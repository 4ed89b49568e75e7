"""Input records for ``catmatch produce``: JSONL or CSV lines, and turning them into messages.

No Kafka here: records are parsed lazily (stdin streams), validated with
:class:`~schemas.ProductMessage` and serialised to the bytes that go on the topic.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas import ProductMessage
from toolbox.errors import InvalidRequest

FORMATS = ("jsonl", "csv")
_FIELDS = frozenset(ProductMessage.model_fields)
_MAX_REASON_CHARS = 300


class InvalidRecord(ValueError):
    """An input record that is not a valid product message (it is reported, not sent)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class InputRecord:
    """One record read from an input file.

    Attributes:
        where: position for error messages, e.g. ``"line 7"``.
        raw: the JSONL line exactly as read, without the line break (``--raw`` sends this);
            empty for CSV rows.
        fields: the parsed fields, or ``None`` when the line could not be parsed.
        error: why parsing failed, or ``None``.
    """

    where: str
    raw: bytes
    fields: dict[str, Any] | None = None
    error: str | None = None


def parse_line(line: bytes, where: str) -> InputRecord | None:
    """Parse one JSON line into a record (``None`` for a blank line)."""
    raw = line.rstrip(b"\r\n")
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return InputRecord(where, raw, error=f"not valid JSON ({exc})")
    if not isinstance(data, dict):
        return InputRecord(where, raw, error=f"not a JSON object ({type(data).__name__})")
    return InputRecord(where, raw, fields=data)


def iter_jsonl(lines: Iterable[bytes]) -> Iterator[InputRecord]:
    """Records of a JSON Lines stream; blank lines are skipped."""
    for number, line in enumerate(lines, 1):
        record = parse_line(line, f"line {number}")
        if record is not None:
            yield record


def csv_fields(row: dict[str | None, Any]) -> dict[str, Any]:
    """Product fields of one CSV row: empty cells dropped, ``category_hints`` split on ``|``.

    Raises:
        ValueError: the row has more cells than the header has columns.
    """
    if row.get(None):
        raise ValueError("row has more cells than the header has columns")
    fields: dict[str, Any] = {}
    for name, value in row.items():
        if name is None or value is None:
            continue
        name = name.strip()
        if value.strip() == "":
            continue
        if name == "category_hints":
            fields[name] = [hint.strip() for hint in value.split("|") if hint.strip()]
        else:
            fields[name] = value
    return fields


def iter_csv(lines: Iterable[str]) -> Iterator[InputRecord]:
    """Records of a CSV stream with a header row whose columns are named like the fields."""
    reader = csv.DictReader(lines)
    for row in reader:
        where = f"line {reader.line_num}"
        try:
            yield InputRecord(where, b"", fields=csv_fields(row))
        except ValueError as exc:
            yield InputRecord(where, b"", error=str(exc))


def detect_format(path: str, fmt: str | None) -> str:
    """``fmt`` if given, else ``csv`` for ``*.csv`` files and ``jsonl`` otherwise (stdin too)."""
    if fmt:
        if fmt not in FORMATS:
            raise InvalidRequest(f"unknown input format {fmt!r} (use {' or '.join(FORMATS)})")
        return fmt
    return "csv" if path.lower().endswith(".csv") else "jsonl"


@contextlib.contextmanager
def open_records(path: str, fmt: str | None = None) -> Iterator[Iterator[InputRecord]]:
    """Open a JSONL/CSV file (``-`` = stdin) and yield its records, parsed lazily."""
    kind = detect_format(path, fmt)
    if path == "-":
        binary = sys.stdin.buffer
        if kind == "jsonl":
            yield iter_jsonl(binary)
        else:
            yield iter_csv(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        return
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest(f"input file not found: {path}")
    if kind == "jsonl":
        with file.open("rb") as fh:
            yield iter_jsonl(fh)
    else:
        with file.open(encoding="utf-8-sig", newline="") as fh:
            yield iter_csv(fh)


def describe_validation_error(exc: ValidationError) -> str:
    """One short line naming each failing field, e.g. ``title: Field required``."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in error["loc"]) or "message"
        parts.append(f"{loc}: {error['msg']}")
    text = "; ".join(parts)
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."


def to_message(fields: dict[str, Any], where: str = "record") -> tuple[str, bytes]:
    """Validate product fields and serialise them: returns ``(key, value)``.

    ``event_time`` is set to now (UTC) when missing. Known fields are normalised by the
    model (whitespace stripped, numbers from CSV text); unknown fields are kept as they
    are, since consumers ignore them (forward compatibility).

    Raises:
        InvalidRecord: the fields do not make a valid :class:`~schemas.ProductMessage`.
    """
    if fields.get("event_time") in (None, ""):
        fields = {**fields, "event_time": datetime.now(UTC)}
    try:
        product = ProductMessage.model_validate(fields)
    except ValidationError as exc:
        raise InvalidRecord(where, describe_validation_error(exc)) from None
    extras = {k: v for k, v in fields.items() if k not in _FIELDS}
    if not extras:
        return product.product_id, product.model_dump_json(exclude_none=True).encode()
    body = {**extras, **product.model_dump(mode="json", exclude_none=True)}
    return product.product_id, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def raw_key(raw: bytes) -> bytes | None:
    """The key for a raw line: its ``product_id`` when it is a JSON object with one (raw lines
    are hostile on purpose: too deep to decode, not UTF-8, ... mean no key)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    product_id = data.get("product_id") if isinstance(data, dict) else None
    return product_id.encode() if isinstance(product_id, str) else None
