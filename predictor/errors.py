"""The predictor's own error type."""

from __future__ import annotations

from core.errors import CatmatchError


class PredictorError(CatmatchError):
    """The predictor cannot start: invalid options or a model that does not load."""
