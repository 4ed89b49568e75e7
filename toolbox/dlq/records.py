"""Dead-letter records and the pure rules over them: parsing, replay counts, time windows.

Nothing here talks to Kafka; :func:`toolbox.readers.read_to_end` yields the
:class:`~toolbox.readers.ConsumedMessage` records these functions take.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from schemas.dead_letter import (
    HEADER_ORIGINAL_TRUNCATED,
    HEADER_REPLAY_COUNT,
    DeadLetter,
    ErrorClass,
)
from toolbox.errors import InvalidRequest
from toolbox.readers import ConsumedMessage

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Entry:
    """A readable dead letter: the record, its parsed body, its decoded original and count."""

    record: ConsumedMessage
    letter: DeadLetter
    original_key: bytes | None
    original_value: bytes
    replay_count: int

    @property
    def truncated(self) -> bool:
        """Only a prefix of the original was kept: it cannot be replayed."""
        return self.letter.original_truncated or b"1" in self.record.header_values(
            HEADER_ORIGINAL_TRUNCATED
        )


def replay_count(headers: Iterable[tuple[str, bytes | None]]) -> int:
    """How often a message was replayed already: the ``catmatch.replay_count`` header.

    Absent, empty or not a non-negative integer counts as 0; with several such headers the
    highest wins (so a loop cannot reset its count).
    """
    counts = [0]
    for name, value in headers:
        if name != HEADER_REPLAY_COUNT or not value:
            continue
        try:
            counts.append(int(value.decode("ascii").strip()))
        except (UnicodeDecodeError, ValueError):
            continue
    return max(0, *counts)


def read_entry(record: ConsumedMessage) -> Entry | None:
    """The record as a dead letter, or ``None`` when it is not valid ``DeadLetter`` JSON
    (empty value, not JSON, wrong fields, unknown error class, bad base64)."""
    if not record.value:
        return None
    try:
        letter = DeadLetter.model_validate_json(record.value)
    except ValidationError:
        return None
    try:
        value = _b64(letter.original_value_b64)
        key = None if letter.original_key_b64 is None else _b64(letter.original_key_b64)
    except (binascii.Error, ValueError):
        return None
    return Entry(record, letter, key, value, replay_count(record.headers))


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware datetime from ISO-8601 (``2026-11-26T12:00:00Z``, ``2026-11-26``; no zone
    means UTC) or a time ago (``90s``, ``30m``, ``2h``, ``1d``, ``1w``).

    Raises:
        InvalidRequest: neither form.
    """
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        amount = float(match.group(1))
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: amount})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"not a time: {text!r} (ISO-8601 such as 2026-11-26T12:00:00Z, or 30m, 2h, 1d)"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_error_classes(values: Iterable[str] | None) -> frozenset[ErrorClass]:
    """Error classes from the command line (repeated or comma-separated); empty = all.

    Raises:
        InvalidRequest: an unknown class (the message lists the known ones).
    """
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    known = {c.value: c for c in ErrorClass}
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise InvalidRequest(
            f"unknown error class: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    return frozenset(known[n] for n in names)


@dataclass(frozen=True)
class Selection:
    """Which dead letters to take: error classes (empty = all) and ``since <= failed_time <
    until`` (either bound optional)."""

    error_classes: frozenset[ErrorClass] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidRequest("--since must be before --until")

    def matches(self, letter: DeadLetter) -> bool:
        if self.error_classes and letter.error_class not in self.error_classes:
            return False
        if self.since is not None and letter.failed_time < self.since:
            return False
        return self.until is None or letter.failed_time < self.until
