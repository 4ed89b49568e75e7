"""``CategoryModel``: the ``kserve.Model`` that serves a deployment's model over V1 and V2.

The model is a transformer classifier or a scikit-learn estimator (:mod:`predictor.runtimes`);
both answer the same protocol. ``preprocess`` decodes and validates (cheap, on the event loop;
bad input → ``InvalidInput`` → HTTP 400), ``predict`` runs tokenization and the forward pass
on ONE dedicated thread so the event loop (and the health endpoints) never block, and
``postprocess`` encodes the response for the protocol the request came in on.

Each request grabs the live version once, in ``preprocess`` (a :class:`Job` carries it to
``postprocess``), so a hot swap (:mod:`predictor.live`) never mixes two versions in one
request, and the response reports the version that actually served it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse

from core.modelformat import DEFAULT_VERSION
from core.settings import CacheSettings
from predictor import auth
from predictor.batches import (
    DEFAULT_MAX_BATCH_SIZE,
    ClassifyRequest,
    Limits,
    Prediction,
    Regression,
)
from predictor.live import (
    DEFAULT_CACHE_SIZE,
    DEFAULT_POLL_INTERVAL_S,
    Served,
    VersionManager,
    VersionNotLoaded,
)
from predictor.loading import Device
from predictor.pinning import VersionConflict, requested_version
from predictor.protocol import (
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
    input_specs,
    output_specs,
)
from predictor.runtimes import ModelRuntime, RuntimeName, load_runtime
from predictor.store_source import StoreSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded model (a runtime object, see :mod:`predictor.runtimes`) and its limits."""

    classifier: ModelRuntime
    limits: Limits


@dataclass(frozen=True, slots=True)
class Job:
    """One request from ``preprocess`` to ``postprocess``, bound to the version serving it."""

    request: ClassifyRequest
    served: Served[Loaded]
    prediction: Prediction | Regression | None = None


class CategoryModel(Model):
    """A model from a model directory or a model-store reference, in either runtime.

    With ``model_dir`` the directory is loaded once (its ``catmatch.json`` version is
    reported). With ``source`` (a :class:`~predictor.live.StoreSource`) the version the
    reference resolves to is served, and :meth:`watch` follows promotions and rollbacks
    with a background load and an atomic swap (:class:`~predictor.live.VersionManager`).
    ``runtime`` picks the loader (``auto``: each directory's ``catmatch.json``).
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
        if (model_dir is None) == (source is None):
            raise ValueError("give exactly one of model_dir and source")
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.source = source
        self.runtime = runtime
        self.device = device
        self.max_length = max_length
        self.top_k = top_k
        self.max_batch_size = max_batch_size
        self.poll_interval_s = poll_interval_s
        self.live: VersionManager[Loaded] | None = None
        if source is not None:
            self.live = VersionManager(
                source.name,
                source.resolve,
                self._load_version,
                change_token=source.change_token,
                cache_size=cache_size,
                on_evict=self._unloaded,
            )
        self._static: Served[Loaded] | None = None
        self._executor: ThreadPoolExecutor | None = None
        # The bearer token the API requires (predictor.auth); kept here so that the
        # children of ModelServer(workers=N), which unpickle the model, install it too.
        self.auth_token: str | None = None
        # The result cache of POST /predict (predictor.predict_api; None: no cache), kept
        # here for the same reason.
        self.result_cache: CacheSettings | None = None

    # -- what is served now ----------------------------------------------------------------

    @property
    def served(self) -> Served[Loaded] | None:
        """The live snapshot (``None`` before :meth:`load`)."""
        if self.live is not None:
            return self.live.current if self.live.loaded else None
        return self._static

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

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> bool:
        """Load weights and tokenizer, warm up, then mark the model ready."""
        if self.live is not None:
            self.live.start()
        else:
            assert self.model_dir is not None
            loaded = self._load_dir(self.model_dir)
            self._static = Served(self.name, loaded.classifier.version, loaded)
        classifier = self.classifier
        assert classifier is not None
        log.info("model %s: %s runtime, %s", self.name, classifier.runtime, classifier.task)
        self.ready = True
        return self.ready

    def watch(self) -> bool:
        """Follow the store reference in the background (True when it can move)."""
        if self.live is None or self.source is None or not self.source.follows:
            return False
        self.live.watch(self.poll_interval_s)
        return True

    def _load_version(self, version: str) -> Loaded:
        assert self.source is not None
        loaded = self._load_dir(self.source.local_path(version))
        if loaded.classifier.version != version:
            log.warning(
                "%s %s: catmatch.json says version %r; reporting the store's %s",
                self.source.name,
                version,
                loaded.classifier.version,
                version,
            )
        return loaded

    def _load_dir(self, model_dir: Path) -> Loaded:
        classifier = load_runtime(
            model_dir, self.runtime, device=self.device, max_length=self.max_length
        )
        classifier.warm_up()
        return Loaded(classifier, classifier.limits(self.max_batch_size, self.top_k))

    def _unloaded(self, served: Served[Loaded]) -> None:
        # In-flight requests may still hold it; memory is freed when the last one finishes.
        if getattr(served.model.classifier.device, "type", None) == "cuda":
            import torch

            torch.cuda.empty_cache()

    def stop(self) -> None:
        """Release the model thread and the watcher (kserve calls this when unloading)."""
        self.ready = False
        if self.live is not None:
            self.live.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- the request path ------------------------------------------------------------------

    def validate(self, payload: Any) -> Any:
        # preprocess already validated; kserve's own check assumes a dict or InferRequest.
        return payload

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> Job:
        """Pick the version (once per request), then decode against its limits.

        Malformed → ``InvalidInput`` (400); a pinned version that is not loaded →
        ``VersionConflict`` (409).
        """
        served = self._select(payload, headers)
        limits = served.model.limits
        if isinstance(payload, InferRequest):
            return Job(decode_v2(payload, limits), served)
        if isinstance(payload, dict | list):
            return Job(decode_v1(payload, limits), served)
        raise InvalidInput(
            f"unsupported request body ({type(payload).__name__}); send JSON with "
            "Content-Type: application/json"
        )

    def _select(self, payload: Any, headers: dict[str, str] | None) -> Served[Loaded]:
        served = self.served
        if served is None:
            raise InvalidInput("model is not loaded")
        wanted = requested_version(payload, headers)
        if wanted is None or wanted == served.version:
            return served
        if self.live is None:
            raise VersionConflict(self.name, wanted, served.version)
        try:
            return self.live.lookup(wanted)
        except VersionNotLoaded as exc:
            raise VersionConflict(self.name, wanted, exc.live) from None

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
    ) -> dict | InferResponse:
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

    def get_input_types(self) -> list[dict]:
        limits = self.limits
        return input_specs(limits) if limits is not None else []

    def get_output_types(self) -> list[dict]:
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
        # In a ModelServer(workers=N) child: its own watcher, and the pinning routes on the
        # child's FastAPI app (which is built after the models are unpickled).
        self.__dict__.update(state)
        if self.live is not None and self.ready:
            self.watch()
        from kserve import model_server

        from predictor.pinning import install as install_pinning

        auth.install(model_server.app, self.auth_token)  # no fallback: it guards the API
        try:
            install_pinning(model_server.app)
        except Exception as exc:  # noqa: BLE001 - pinning still works via the parameter
            log.warning("version pinning URL/409 handler not installed: %s", exc)
        from predictor.predict_api import install as install_predict

        try:
            install_predict(model_server.app, self)
        except Exception as exc:  # noqa: BLE001 - V1/V2 still serve
            log.warning("POST /predict not installed: %s", exc)
