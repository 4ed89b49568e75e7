"""Bearer-token check on the predictor's API, health endpoints exempt.

The accepted tokens are :class:`AcceptedTokens`: ``serve.token`` (one, from the environment
or the YAML file) and every token of ``serve.token_file`` (a file, one per line, or a
directory such as a mounted Secret with keys ``current`` and ``next``), the file read again
within a second of a change (:class:`core.token_files.TokenFile`). Several tokens at once
make a rotation refuse nothing: add the next token, switch the workers, remove the old one
(docs/SECURITY.md).

With tokens configured every request must carry ``Authorization: Bearer <token>`` or gets
HTTP 401, except the probes Kubernetes and Knative send without credentials: liveness and
readiness (server and model), and ``/metrics``. The header is compared with every accepted
token in constant time (:func:`hmac.compare_digest`, no early exit). Which token a request
used is counted by its *name* (``catmatch_predictor_auth_accepted_total{credential}``), so an
operator can see that no caller still sends the old one before removing it; values are never
logged. In a mesh the AuthorizationPolicy decides who may call at all; the token makes the
predictor refuse a caller that got past it, and lets a worker tell "my credentials are wrong"
(401, a predictor fault that holds the stream) from "my input is wrong" (400).
"""

from __future__ import annotations

import hmac
import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from core.errors import ConfigError
from core.token_files import Credential, TokenFile

# GET paths answered without a token: probes and metrics.
_EXEMPT = re.compile(
    r"/|/metrics|/v2/health/(live|ready)|/v1/models/[^/]+|/v2/models/[^/]+/ready"
)
ENV_CREDENTIAL = "serve.token"

ACCEPTED = Counter(
    "catmatch_predictor_auth_accepted",
    "API requests let through, by the name of the token they carried (a Secret key or "
    "serve.token; never the value)",
    ["credential"],
)
REFUSED = Counter(
    "catmatch_predictor_auth_refused", "API requests refused with 401 (no or an unknown token)"
)


class AcceptedTokens:
    """``serve.token`` plus the tokens of ``serve.token_file``; picklable.

    Raises:
        ConfigError: neither gives a token, or the file cannot be read at start-up (a
            predictor whose token check would be empty must not serve).
    """

    def __init__(
        self, token: str | None = None, token_file: Path | None = None,
        check_interval_s: float | None = None,
    ) -> None:
        self._fixed = (Credential(ENV_CREDENTIAL, token),) if token else ()
        self._file: TokenFile | None = None
        if token_file is not None:
            self._file = (TokenFile(token_file) if check_interval_s is None
                          else TokenFile(token_file, check_interval_s))
            self._file.load()
        if not self._fixed and self._file is None:
            raise ConfigError("an empty token set would let everything through")

    def __repr__(self) -> str:
        return f"AcceptedTokens({', '.join(c.name for c in self.credentials())})"

    def credentials(self) -> tuple[Credential, ...]:
        """The tokens accepted now (the file re-read if it changed)."""
        if self._file is None:
            return self._fixed
        return self._fixed + self._file.credentials()

    def match(self, header: bytes) -> Credential | None:
        """The credential whose ``Bearer <token>`` equals ``header``; every one is compared
        (constant time each, no early exit), so timing tells only how many there are."""
        found: Credential | None = None
        for credential in self.credentials():
            expected = b"Bearer " + credential.secret.encode()
            if hmac.compare_digest(header, expected) and found is None:
                found = credential
        return found


class BearerAuth:
    """ASGI middleware: 401 unless the bearer token is one of ``tokens``."""

    def __init__(self, app: Any, tokens: AcceptedTokens) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        credential = self.tokens.match(_authorization(scope))
        if credential is not None:
            ACCEPTED.labels(credential=credential.name).inc()
            await self.app(scope, receive, send)
            return
        REFUSED.inc()
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

    @staticmethod
    def _exempt(scope: dict[str, Any]) -> bool:
        return bool(scope.get("method") in ("GET", "HEAD")
                    and _EXEMPT.fullmatch(scope.get("path", "")))


def _authorization(scope: dict[str, Any]) -> bytes:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            return bytes(value)
    return b""


def install(app: Any, tokens: AcceptedTokens | None) -> None:
    """Require one of ``tokens`` on kserve's FastAPI app (once; nothing when ``None``)."""
    if tokens is None or getattr(app.state, "catmatch_auth", False):
        return
    app.add_middleware(BearerAuth, tokens=tokens)
    app.state.catmatch_auth = True
