"""Bearer-token check on the predictor's API (``serve.token``), health endpoints exempt.

With a token configured every request must carry ``Authorization: Bearer <token>`` or gets
HTTP 401 (compared in constant time), except the probes Kubernetes and Knative send
without credentials: liveness and readiness (server and model), and ``/metrics``. In a mesh
the AuthorizationPolicy decides who may call at all; the token makes the predictor refuse
a caller that got past it, and lets a worker tell "my credentials are wrong" (401, a
predictor fault that holds the stream) from "my input is wrong" (400).
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

# GET paths answered without a token: probes and metrics.
_EXEMPT = re.compile(
    r"/|/metrics|/v2/health/(live|ready)|/v1/models/[^/]+|/v2/models/[^/]+/ready"
)


class BearerAuth:
    """ASGI middleware: 401 unless the bearer token matches."""

    def __init__(self, app: Any, token: str) -> None:
        if not token:
            raise ValueError("an empty token would let everything through")
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "missing or wrong bearer token"}).encode()
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="category-match"'),
                (b"content-length", str(len(body)).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: dict[str, Any]) -> bool:
        if scope.get("method") in ("GET", "HEAD") and _EXEMPT.fullmatch(scope.get("path", "")):
            return True
        sent = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                sent = value
                break
        return hmac.compare_digest(sent, self._expected)


def install(app: Any, token: str | None) -> None:
    """Require ``token`` on kserve's FastAPI app (once; nothing when ``token`` is empty)."""
    if not token or getattr(app.state, "catmatch_auth", False):
        return
    app.add_middleware(BearerAuth, token=token)
    app.state.catmatch_auth = True
