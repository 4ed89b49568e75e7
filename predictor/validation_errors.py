"""HTTP 422 for a request body FastAPI cannot validate, whatever numbers it held.

FastAPI decodes JSON with :func:`json.loads`, which accepts ``NaN`` and ``Infinity``; when such
a body fails validation (a V2 ``"shape": [NaN]``), its default handler echoes the input back
in ``detail`` and ``JSONResponse`` refuses to encode the non-finite float, so the client got
kserve's generic HTTP 500 instead of a 422. This handler writes the same ``detail`` with
every non-finite number as a string (``"nan"``, ``"inf"``). Found by
tests/fuzz/test_predictor_http.py.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def finite(value: Any) -> Any:
    """``value`` (decoded JSON) with each NaN or infinity replaced by its ``str``."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": finite(jsonable_encoder(exc.errors()))})


def install(app: FastAPI) -> None:
    """Answer validation errors with a 422 that always encodes (once per app)."""
    if getattr(app.state, "catmatch_validation_errors", False):
        return
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.state.catmatch_validation_errors = True
