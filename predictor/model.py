"""``CategoryModel``: the ``kserve.Model`` that serves a deployment's model over V1 and V2.

The model is a transformer classifier or a scikit-learn estimator (:mod:`predictor.runtimes`);
both answer the same protocol. ``preprocess`` decodes and validates (cheap, on the event loop;
bad input → ``InvalidInput`` → HTTP 400), ``predict`` runs tokenization and the forward pass
on ONE dedicated thread so the event loop (and the health endpoints) never block, and
``postprocess`` encodes the response for the protocol the request came in on. A model with
nothing loaded answers ``ModelNotReady`` (HTTP 503), whichever the endpoint.

Each request grabs the live version once, in ``preprocess`` (a :class:`Job` carries it to
``postprocess``), so a hot swap (:mod:`predictor.versions`, :mod:`predictor.live`) never mixes
two versions in one request, and the response reports the version that actually served it.

The model knows nothing of the web app: the routes beside kserve's (bearer token, version
pinning URL, ``POST /predict``) are installed by :mod:`predictor.routes`, from the server.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kserve import Model
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferRequest, InferResponse

from core.modelformat import DEFAULT_VERSION
from predictor.batches import (
    DEFAULT_MAX_BATCH_SIZE,
    ClassifyRequest,
    Limits,
    Prediction,
    Regression,
)
from predictor.live import DEFAULT_CACHE_SIZE, DEFAULT_POLL_INTERVAL_S
from predictor.loading import Device
from predictor.model_cache import Served
from predictor.pinning import requested_version
from predictor.protocol import (
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
    input_specs,
    output_specs,
)
from predictor.runtimes import ModelRuntime, RuntimeName
from predictor.store_source import StoreSource
from predictor.versions import FixedVersion, FollowedVersions, Loaded, LoadOptions, Versions

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """One request from ``preprocess`` to ``postprocess``, bound to the version serving it."""

    request: ClassifyRequest
    served: Served[Loaded]
    prediction: Prediction | Regression | None = None


class CategoryModel(Model):  # type: ignore[misc]  # kserve ships no type information
    """A model from a model directory or a model-store reference, in any runtime.

    With ``model_dir`` the directory is loaded once (its ``catmatch.json`` version is
    reported). With ``source`` (a :class:`~predictor.store_source.StoreSource`) the version
    the reference resolves to is served, and :meth:`watch` follows promotions and rollbacks
    (:class:`~predictor.versions.FollowedVersions`). ``runtime`` picks the loader (``auto``:
    each directory's ``catmatch.json``).
    """

    def __init__(
        self,
        name: str,
        model_dir: Path | None = None,
        *,
        source: StoreSource | None = None,
        runtime: RuntimeName = "auto",
        device: Device = "auto",
        max_length: int = 128,
        top_k: int = 3,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        super().__init__(name)
        options = LoadOptions(runtime, device, max_length, top_k, max_batch_size)
        self.options = options
        self.versions: Versions
        if model_dir is not None and source is None:
            self.versions = FixedVersion(name, Path(model_dir), options)
        elif source is not None and model_dir is None:
            self.versions = FollowedVersions(
                name, source, options, cache_size=cache_size, poll_interval_s=poll_interval_s
            )
        else:
            raise ValueError("give exactly one of model_dir and source")
        self._executor: ThreadPoolExecutor | None = None

    # -- what is served now ----------------------------------------------------------------

    @property
    def served(self) -> Served[Loaded] | None:
        """The live snapshot (``None`` before :meth:`load`)."""
        return self.versions.current

    @property
    def classifier(self) -> ModelRuntime | None:
        served = self.served
        return served.model.classifier if served is not None else None

    @property
    def limits(self) -> Limits | None:
        served = self.served
        return served.model.limits if served is not None else None

    @property
    def model_version(self) -> str:
        served = self.served
        return served.version if served is not None else DEFAULT_VERSION

    # -- life cycle ------------------------------------------------------------------------

    def load(self) -> bool:
        """Load weights and tokenizer, warm up, then mark the model ready."""
        classifier = self.versions.start().model.classifier
        log.info("model %s: %s runtime, %s", self.name, classifier.runtime, classifier.task)
        self.ready = True
        return True

    def watch(self) -> bool:
        """Follow the store reference in the background (True when it can move)."""
        return self.versions.watch()

    def stop(self) -> None:
        """Release the model thread and the watcher (kserve calls this when unloading)."""
        self.ready = False
        self.versions.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- the request path ------------------------------------------------------------------

    def validate(self, payload: Any) -> Any:
        # preprocess already validated; kserve's own check assumes a dict or InferRequest.
        return payload

    async def preprocess(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None
    ) -> Job:
        """Pick the version (once per request), then decode against its limits.

        Nothing loaded → ``ModelNotReady`` (503); malformed → ``InvalidInput`` (400); a
        pinned version that is not loaded → ``VersionConflict`` (409).
        """
        served = self.select(payload, headers)
        limits = served.model.limits
        if isinstance(payload, InferRequest):
            return Job(decode_v2(payload, limits), served)
        if isinstance(payload, dict | list):
            return Job(decode_v1(payload, limits), served)
        raise InvalidInput(
            f"unsupported request body ({type(payload).__name__}); send JSON with "
            "Content-Type: application/json"
        )

    def select(self, payload: Any, headers: dict[str, str] | None) -> Served[Loaded]:
        """The version that serves a request: the live one, unless the request pins another."""
        served = self.live_or_not_ready()
        wanted = requested_version(payload, headers)
        if wanted is None or wanted == served.version:
            return served
        return self.versions.pinned(wanted)

    def live_or_not_ready(self) -> Served[Loaded]:
        """The live snapshot. Raises ``ModelNotReady`` (HTTP 503) when nothing is loaded."""
        served = self.served
        if served is None:
            raise ModelNotReady(self.name, "No model version is loaded.")
        return served

    async def predict(self, payload: Job, headers: dict[str, str] | None = None) -> Job:
        """Run the model on the model thread and wait for it without blocking the loop."""
        loop = asyncio.get_running_loop()
        prediction = await loop.run_in_executor(self._model_thread(), self._run, payload)
        return replace(payload, prediction=prediction)

    @staticmethod
    def _run(job: Job) -> Prediction | Regression:
        return job.served.model.classifier.run(job.request)

    async def postprocess(
        self,
        result: Job,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | InferResponse:
        """Encode for the protocol the request came in on, with the version that served it."""
        assert result.prediction is not None
        labels = result.served.model.classifier.labels
        version = result.served.version
        if result.request.protocol == "v1":
            return encode_v1(result.prediction, labels, self.name, version)
        live = self.served
        return encode_v2(
            result.request,
            result.prediction,
            labels,
            self.name,
            version,
            live_version=live.version if live is not None else None,
        )

    def get_input_types(self) -> list[dict[str, Any]]:
        limits = self.limits
        return input_specs(limits) if limits is not None else []

    def get_output_types(self) -> list[dict[str, Any]]:
        limits = self.limits
        return output_specs(limits) if limits is not None else []

    def _model_thread(self) -> ThreadPoolExecutor:
        # One thread: several torch (or BLAS) threads would each start a thread team and fight.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        return self._executor

    def __getstate__(self) -> dict[str, Any]:
        # ModelServer(workers=N) pickles the loaded model into each child process.
        state = self.__dict__.copy()
        state["_executor"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # In a ModelServer(workers=N) child: its own watcher thread (the parent's does not
        # cross the pickle). The child's routes are the server's business (predictor.routes).
        self.__dict__.update(state)
        if self.ready:
            self.watch()
