"""The one error type of the model store (a :class:`~core.errors.CatmatchError`)."""

from __future__ import annotations

from core.errors import CatmatchError


class StoreError(CatmatchError):
    """A model-store operation failed in a way the user can act on (one line, no trace).

    Unknown model or version, nothing to roll back to, a missing storage backend, a
    staging directory that is not a model, a lock held too long.
    """
