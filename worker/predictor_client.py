"""The worker's HTTP client for the KServe predictor (Open Inference Protocol / V2 REST).

Errors: :class:`PredictorUnavailable` (connection refused, timeouts, 429/502/503/504: the
InferenceService is cold, scaling or restarting) is waited out;
:class:`PredictorUnauthorized` (401/403: a token or a mesh policy) is a predictor fault;
:class:`PredictorRejected` (other 4xx) is never retried; :class:`PredictorServerError`
(other 5xx) is retried a few times. For the last two the caller decides between a poison
row and a predictor fault (:mod:`worker.circuit`).
"""

from __future__ import annotations

import enum
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.token_files import TokenFile
from worker.metrics import METRICS
from worker.tokenization import TokenizedBatch

log = logging.getLogger(__name__)

UNAVAILABLE_STATUSES = {404, 408, 429, 502, 503, 504}
# What a result needs; asking for just these leaves out e.g. an sklearn model's probabilities.
OUTPUTS = ("label", "label_id", "score", "top_k_label", "top_k_label_id", "top_k_score")


class PredictorState(enum.StrEnum):
    """What the worker believes about the predictor."""

    UNKNOWN = "unknown"
    READY = "ready"
    NOT_READY = "not_ready"  # down, cold (scaled to zero) or still loading
    FAILING = "failing"  # answering, but with server errors


class PredictorCallError(Exception):
    """Base class of the worker's failed predictor calls (the predictor service has its own
    ``predictor.errors.PredictorError``; the worker never imports it)."""


class PredictorUnavailable(PredictorCallError):
    """The predictor cannot answer now; try again later."""


class PredictorServerError(PredictorCallError):
    """The predictor answered 5xx."""


class PredictorRejected(PredictorCallError):
    """The predictor refused the request (4xx); retrying cannot help."""


class PredictorUnauthorized(PredictorCallError):
    """401/403: the predictor (or the mesh in front of it) refuses this worker's calls."""


class VersionMismatch(PredictorCallError):
    """The pinned model version is not loaded (409); the predictor names its live version."""

    def __init__(self, live_version: str, message: str) -> None:
        super().__init__(message)
        self.live_version = live_version


@dataclass(slots=True)
class Prediction:
    """One row of a V2 response (not frozen: a frozen dataclass costs twice as much to build,
    and one is built per product; nothing changes it)."""

    label: str
    label_id: int
    score: float
    top_k: list[tuple[str, int, float]]


@dataclass(frozen=True, slots=True)
class PredictResult:
    model_name: str
    model_version: str
    predictions: list[Prediction]
    live_version: str | None = None  # the predictor's live version, when it says so


class PredictorClient:
    """Calls ``POST {url}/v2/models/{model}/infer`` with INT64 ``input_ids``/``attention_mask``
    (a transformer predictor) or a BYTES ``text`` input (a model that takes text).

    The bearer token is ``token``, or the one in ``token_file``, looked up for every request
    so that a rotated Secret is sent within a second of the kubelet swapping it in.
    """

    def __init__(
        self,
        url: str,
        model_name: str,
        timeout_s: float,
        connect_timeout_s: float,
        host_header: str | None = None,
        token: str | None = None,
        max_connections: int = 8,
        token_file: TokenFile | None = None,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.model_name = model_name
        self.state = PredictorState.UNKNOWN
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._headers = {"Content-Type": "application/json"}
        if host_header:
            self._headers["Host"] = host_header
        self._token = token
        self._token_file = token_file
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PredictorClient:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._max_connections),
            timeout=self._timeout,
            headers=self._headers,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _authorization(self) -> dict[str, str] | None:
        token = self._token_file.token() if self._token_file is not None else self._token
        return {"Authorization": f"Bearer {token}"} if token else None

    def _set_state(self, state: PredictorState) -> None:
        if state != self.state:
            log.info("predictor %s: %s -> %s", self.base_url, self.state, state)
            self.state = state
            METRICS.predictor_state.state(state.value)

    async def infer(
        self, batch: TokenizedBatch | list[str], top_k: int, model_version: str | None = None
    ) -> PredictResult:
        """Classify one tokenized batch (or raw texts), pinned to ``model_version`` if given."""
        assert self._session is not None, "use 'async with PredictorClient(...)'"
        body = _request_body(batch, top_k, model_version)
        rows = len(batch) if isinstance(batch, list) else batch.rows
        started = time.perf_counter()
        outcome = "error"
        try:
            async with self._session.post(
                f"{self.base_url}/v2/models/{self.model_name}/infer", data=body,
                headers=self._authorization(),
            ) as resp:
                data = await resp.read()
                status = resp.status
            if status == 200:
                outcome = "ok"
                result = parse_response(orjson.loads(data), rows)
                self._set_state(PredictorState.READY)
                return result
            outcome = str(status)
            text = data[:2000].decode(errors="replace")
            if status in UNAVAILABLE_STATUSES:
                self._set_state(PredictorState.NOT_READY)
                raise PredictorUnavailable(f"HTTP {status}: {text[:200]}")
            if status == 409:
                live = _live_version(text)
                if live:
                    raise VersionMismatch(live, f"HTTP 409: {text[:200]}")
            if status >= 500:
                self._set_state(PredictorState.FAILING)
                raise PredictorServerError(f"HTTP {status}: {text[:500]}")
            if status in (401, 403):
                self._set_state(PredictorState.FAILING)
                raise PredictorUnauthorized(f"HTTP {status}: {text[:500]}")
            raise PredictorRejected(f"HTTP {status}: {text[:500]}")
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            outcome = "unavailable"
            self._set_state(PredictorState.NOT_READY)
            raise PredictorUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except (ValueError, KeyError) as exc:
            if outcome == "ok":
                outcome = "bad_response"
            raise PredictorServerError(f"unreadable response: {exc}") from exc
        finally:
            METRICS.predictor_request_seconds.labels(outcome=outcome).observe(
                time.perf_counter() - started
            )


def _live_version(text: str) -> str | None:
    try:
        live = json.loads(text).get("live_version")
    except (ValueError, AttributeError):
        return None
    return str(live) if live else None


def _request_body(
    batch: TokenizedBatch | list[str], top_k: int, model_version: str | None = None
) -> bytes:
    parameters: dict[str, Any] = {"top_k": top_k}
    if model_version:
        parameters["model_version"] = model_version
    if isinstance(batch, list):
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [len(batch)], "data": batch}]
    else:
        shape = [batch.rows, batch.length]
        inputs = [
            {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": batch.input_ids},
            {"name": "attention_mask", "datatype": "INT64", "shape": shape,
             "data": batch.attention_mask},
        ]
    return orjson.dumps(
        {
            "id": uuid.uuid4().hex,
            "parameters": parameters,
            "inputs": inputs,
            "outputs": [{"name": name} for name in OUTPUTS],
        }
    )


def parse_response(payload: dict[str, Any], rows: int) -> PredictResult:
    """Read a V2 response: ``label``, ``label_id``, ``score`` and the ``top_k_*`` outputs."""
    outputs = {o["name"]: o for o in payload["outputs"]}
    labels = outputs["label"]["data"]
    label_ids = outputs["label_id"]["data"]
    scores = outputs["score"]["data"]
    if not (len(labels) == len(label_ids) == len(scores) == rows):
        raise ValueError(f"response has {len(labels)} rows, request had {rows}")
    # Coerced in bulk (map runs in C): a hostile or broken predictor's odd types fail here,
    # as a bad response, not later in a result.
    labels, label_ids, scores = list(map(str, labels)), list(map(int, label_ids)), list(
        map(float, scores)
    )
    if {"top_k_label", "top_k_label_id", "top_k_score"} <= outputs.keys():
        k = int(outputs["top_k_label_id"]["shape"][1])
        flat = list(zip(
            map(str, outputs["top_k_label"]["data"]),
            map(int, outputs["top_k_label_id"]["data"]),
            map(float, outputs["top_k_score"]["data"]),
            strict=True,
        ))
        if len(flat) != rows * k:
            raise ValueError(f"top_k has {len(flat)} entries, expected {rows} x {k}")
        top_k = [flat[r * k:(r + 1) * k] for r in range(rows)]
    else:
        top_k = [[] for _ in range(rows)]
    predictions = list(map(Prediction, labels, label_ids, scores, top_k))
    return PredictResult(
        model_name=str(payload.get("model_name", "")),
        model_version=str(payload.get("model_version") or "0"),
        predictions=predictions,
        live_version=(payload.get("parameters") or {}).get("live_version"),
    )
