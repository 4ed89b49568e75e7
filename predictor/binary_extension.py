"""HTTP 400 for V2's binary tensor extension, which the predictor does not take.

A V2 request with an ``inference-header-content-length`` header is read by kserve 0.21 as
"JSON header, then raw tensor bytes" (``InferRequest.from_bytes``). That parser trusts the
header and the JSON it slices out: a header that is not a number, or JSON without
``inputs``, raised ``ValueError``/``KeyError`` and came back as HTTP 500 (found by
tests/fuzz/test_predictor_http.py). Workers and ``catmatch`` send JSON only, so the header is
refused here, before kserve sees the request, with a reason that names it.
"""

from __future__ import annotations

import json
import re
from typing import Any

HEADER = b"inference-header-content-length"
_INFER = re.compile(r"/v2/models/[^/]+(/versions/[^/]+)?/infer")


class RefuseBinaryExtension:
    """ASGI middleware: 400 for a V2 inference request that uses the binary extension."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope.get("type") == "http"
            and _INFER.fullmatch(scope.get("path", ""))
            and any(name.lower() == HEADER for name, _ in scope.get("headers", []))
        ):
            body = json.dumps({
                "error": "the binary tensor extension (inference-header-content-length) is "
                "not supported: send the request as JSON"
            }).encode()
            await send({
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            })
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def install(app: Any) -> None:
    """Refuse the binary extension on kserve's FastAPI app (once)."""
    if getattr(app.state, "catmatch_binary_refused", False):
        return
    app.add_middleware(RefuseBinaryExtension)
    app.state.catmatch_binary_refused = True
