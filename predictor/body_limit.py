"""A bound on request bodies, enforced before anything parses them (``serve.max_body_bytes``).

kserve's endpoints read the whole body (``await request.body()``) and then decode it, so an
unbounded body is unbounded memory and decode time. :class:`BodyLimit` sits outside them:

- a ``Content-Length`` over the limit is answered 413 at once, nothing read;
- otherwise the body is read chunk by chunk (chunked transfer included, where no length is
  declared) and answered 413 as soon as more than the limit has arrived: at most the limit
  is ever held, and nothing past the first chunk that crosses it is read;
- a body within the limit is handed on as one message, so the endpoints read it as usual.

The default (16 MiB) is about three times the largest request the predictor accepts:
``--max-batch-size`` 1024 rows of 512 INT64 ids, mask and token types as JSON.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


class BodyLimit:
    """ASGI middleware: HTTP 413 for a request body over ``max_bytes``."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"declared {declared} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, f"more than {self.max_bytes} bytes sent")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Any, what: str) -> None:
        body = json.dumps(
            {"error": f"request body too large: {what}, the limit is {self.max_bytes} bytes"}
        ).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # the rest of the body stays unread: this connection cannot carry another request
                (b"connection", b"close"),
            ],
        })
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server has refused such a request already
    return None


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that returns ``body`` once, then whatever the server sends next."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay


def install(app: Any, max_bytes: int) -> None:
    """Bound request bodies on kserve's FastAPI app (once)."""
    if getattr(app.state, "catmatch_body_limit", False):
        return
    app.add_middleware(BodyLimit, max_bytes=max_bytes)
    app.state.catmatch_body_limit = True
