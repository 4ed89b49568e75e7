"""Requests that pin the model version they were tokenized for.

A client that tokenizes with one version's ``tokenizer.json`` can say so, three ways:

- request parameter ``model_version`` (V2 ``parameters``, or V1 ``"parameters"``);
- the V2 versioned URL ``POST /v2/models/{name}/versions/{version}/infer`` (kserve 0.21
  routes it but answers 501; :class:`VersionedInferPath` rewrites it to the plain URL and
  passes the version in the :data:`VERSION_HEADER` header);
- the :data:`VERSION_HEADER` header itself.

A pinned version that is live or still in the loaded-model cache serves the request; any
other gets HTTP 409 with ``{"error", "model_name", "requested_version", "live_version"}``
(:class:`VersionConflict`; 400 where the 409 handler is not installed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, to_http_parameters

VERSION_PARAMETER = "model_version"
VERSION_HEADER = "x-catmatch-model-version"
_VERSIONED_INFER = re.compile(r"/v2/models/([^/]+)/versions/([^/]+)/infer")
_NUMBER = re.compile(r"[1-9][0-9]*")


class VersionConflict(InvalidInput):  # type: ignore[misc]  # kserve ships no type information
    """The pinned version is not loaded here (HTTP 409 once :func:`install` ran)."""

    def __init__(self, model_name: str, requested: str, live: str) -> None:
        super().__init__(
            f"model {model_name} version {requested} is not loaded here; "
            f"the live version is {live}"
        )
        self.model_name, self.requested, self.live = model_name, requested, live


def requested_version(payload: Any, headers: Mapping[str, str] | None) -> str | None:
    """The version a request pins (parameter or header), ``None`` when it pins none.

    Raises:
        InvalidInput: not a string/int, or the parameter and the header disagree.
    """
    params: Any = None
    if isinstance(payload, InferRequest):
        params = payload.parameters
        if params and not isinstance(params, dict):
            params = to_http_parameters(params)
    elif isinstance(payload, dict):
        params = payload.get("parameters")
    value = params.get(VERSION_PARAMETER) if isinstance(params, dict) else None
    from_param = _normalize(value) if value is not None else None
    header = None
    if headers:
        header = headers.get(VERSION_HEADER) or headers.get(VERSION_HEADER.title())
    from_header = _normalize(header) if header else None
    if from_param and from_header and from_param != from_header:
        raise InvalidInput(
            f"parameter {VERSION_PARAMETER!r} ({from_param}) and the URL/header version "
            f"({from_header}) disagree"
        )
    return from_param or from_header


def _normalize(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"{VERSION_PARAMETER} must be a string such as 'v3', got {value!r}")
    text = str(value).strip()
    if not text:
        raise InvalidInput(f"{VERSION_PARAMETER} must not be empty")
    return f"v{text}" if _NUMBER.fullmatch(text) else text


class VersionedInferPath:
    """ASGI middleware: ``/v2/models/{m}/versions/{v}/infer`` → ``/v2/models/{m}/infer``
    with the version in :data:`VERSION_HEADER` (replacing one the client sent)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            match = _VERSIONED_INFER.fullmatch(scope.get("path", ""))
            if match is not None:
                path = f"/v2/models/{match[1]}/infer"
                header = VERSION_HEADER.encode()
                headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != header]
                headers.append((header, match[2].encode()))
                scope = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        await self.app(scope, receive, send)


async def version_conflict_handler(_: Any, exc: Exception) -> Any:
    """HTTP 409 naming the live version (what a worker needs to reload its tokenizer)."""
    from fastapi.responses import JSONResponse

    assert isinstance(exc, VersionConflict)
    return JSONResponse(
        status_code=409,
        content={
            "error": str(exc),
            "model_name": exc.model_name,
            "requested_version": exc.requested,
            "live_version": exc.live,
        },
    )


def install(app: Any) -> None:
    """Add the versioned-URL rewrite and the 409 handler to kserve's FastAPI app (once)."""
    if getattr(app.state, "catmatch_pinning", False):
        return
    app.add_middleware(VersionedInferPath)
    app.add_exception_handler(VersionConflict, version_conflict_handler)
    app.state.catmatch_pinning = True
