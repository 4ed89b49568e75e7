"""The worker's own error type (start-up problems the operator can fix)."""

from __future__ import annotations

from core.errors import CatmatchError


class WorkerError(CatmatchError):
    """The worker cannot start, e.g. its tokenizer.json is missing."""
