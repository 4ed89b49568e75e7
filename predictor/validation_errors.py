"""HTTP 422 for a request body FastAPI cannot validate, whatever numbers it held.

FastAPI decodes JSON with :func:`json.loads`, which accepts ``NaN`` and ``Infinity``; when such
a body fails validation (a V2 ``"shape": [NaN]``), its default handler echoes the input back
in ``detail`` and ``JSONResponse`` refuses to encode the non-finite float, so the client got
kserve's generic HTTP 500 instead of a 422. This handler writes the same ``detail`` with
every non-finite number as a string (``"nan"``, ``"inf"``), and every lone surrogate in a
string (which :func:`json.loads` lets through from ``\\udcd2`` or from the bytes ``ED B3 92``
and UTF-8 cannot encode) as its backslash escape. Both found by
tests/fuzz/test_predictor_http.py.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def encodable(value: Any) -> Any:
    """``value`` (decoded JSON) with each NaN or infinity replaced by its ``str`` and each
    string (keys too) made encodable as UTF-8 (a lone surrogate becomes ``\\udcd2``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value


async def validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = encodable(jsonable_encoder(exc.errors()))
    return JSONResponse(status_code=422, content={"detail": detail})


def install(app: FastAPI) -> None:
    """Answer validation errors with a 422 that always encodes (once per app)."""
    if getattr(app.state, "catmatch_validation_errors", False):
        return
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.state.catmatch_validation_errors = True
