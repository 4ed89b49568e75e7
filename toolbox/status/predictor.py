"""The predictor as ``catmatch status`` sees it: readiness, metadata and the live version.

Three GETs to ``settings.predictor.url`` with the workers' Host header and token:

- ``/v2/models/{name}/ready``: 200 is ``ready``; 503 (and other answers) ``not_ready``;
  401/403 ``unauthorized``; 404 ``not_found``; no answer ``unreachable``.
- ``/v2/models/{name}``: the model metadata (inputs and outputs; ``versions`` if the server
  reports any; KServe 0.21 does not).
- ``/metrics``: ``catmatch_predictor_model_info{model,version}``, the live version of a
  predictor serving from the model store (``--model-ref``). A predictor serving a baked-in
  model directory has no such series; its version is then unknown here (it is in every
  inference response, and the image tag names it).

Behind Knative, any of these requests wakes a predictor scaled to zero, as a worker would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from core.settings import PredictorClientSettings

MODEL_INFO = "catmatch_predictor_model_info"  # predictor/live.py: Info("catmatch_predictor_model")


@dataclass
class PredictorStatus:
    url: str
    model: str
    state: str = "unknown"  # ready, not_ready, unauthorized, not_found, unreachable
    http_status: int | None = None
    live_version: str | None = None
    version_source: str | None = None  # metadata or metrics
    platform: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _get(
    settings: PredictorClientSettings, path: str, timeout: float
) -> tuple[int | None, bytes, str | None]:
    """``(status, body, error)``; status None when nothing answered."""
    headers = {"Accept": "application/json, text/plain"}
    if settings.host_header:
        headers["Host"] = settings.host_header
    token = settings.bearer_token()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    url = settings.url.rstrip("/") + path
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the configured URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), resp.read(), None
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read() or b"", None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, b"", f"{type(exc).__name__}: {reason}"


def _state(status: int | None) -> str:
    if status is None:
        return "unreachable"
    if status == 200:
        return "ready"
    if status in (401, 403):
        return "unauthorized"
    if status == 404:
        return "not_found"
    return "not_ready"


def live_version_from_metrics(text: str, model: str) -> str | None:
    """The ``version`` label of ``catmatch_predictor_model_info`` (value 1) in Prometheus
    text; with several models, the one called ``model`` (else the only one)."""
    versions: dict[str, str] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == MODEL_INFO and sample.value == 1 and "version" in sample.labels:
                    versions[sample.labels.get("model", "")] = sample.labels["version"]
    except ValueError:
        return None
    if model in versions:
        return versions[model]
    return next(iter(versions.values())) if len(versions) == 1 else None


def _names(specs: Any) -> list[str]:
    """The ``name`` of each tensor spec of V2 model metadata."""
    return [str(s.get("name")) for s in specs or [] if isinstance(s, dict)]


def predictor_status(settings: PredictorClientSettings, timeout: float = 5.0) -> PredictorStatus:
    """Probe the predictor; never raises (problems are states and ``error``)."""
    name = settings.model_name
    result = PredictorStatus(url=settings.url, model=name)
    status, body, error = _get(settings, f"/v2/models/{name}/ready", timeout)
    result.state, result.http_status, result.error = _state(status), status, error
    if status is not None and status != 200 and body:
        result.error = body.decode(errors="replace").strip()[:200]
    if status is None:
        return result
    status, body, _ = _get(settings, f"/v2/models/{name}", timeout)
    if status == 200:
        try:
            meta = json.loads(body)
        except ValueError:
            meta = {}
        if isinstance(meta, dict):
            result.platform = meta.get("platform") or None
            result.inputs = _names(meta.get("inputs"))
            result.outputs = _names(meta.get("outputs"))
            versions = meta.get("versions") or []
            if versions:
                result.live_version, result.version_source = str(versions[-1]), "metadata"
    if result.live_version is None:
        status, body, _ = _get(settings, "/metrics", timeout)
        if status == 200:
            version = live_version_from_metrics(body.decode(errors="replace"), name)
            if version is not None:
                result.live_version, result.version_source = version, "metrics"
    return result
