"""``CategoryModel``: the ``kserve.Model`` that serves the classifier over V1 and V2.

``preprocess`` decodes and validates (cheap, on the event loop; bad input → ``InvalidInput``
→ HTTP 400), ``predict`` runs tokenization and the forward pass on ONE dedicated thread so
the event loop (and the health endpoints) never block, and ``postprocess`` encodes the
response for the protocol the request came in on.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse

from predictor.batches import (
    DEFAULT_MAX_BATCH_SIZE,
    ClassifyRequest,
    Limits,
    Outcome,
    Prediction,
)
from predictor.loading import Device, load_classifier
from predictor.protocol import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
)

log = logging.getLogger(__name__)


class CategoryModel(Model):
    """A Hugging Face sequence classifier loaded from a local model directory."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        *,
        device: Device = "auto",
        max_length: int = 128,
        top_k: int = 3,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    ) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.device = device
        self.max_length = max_length
        self.top_k = top_k
        self.max_batch_size = max_batch_size
        self.classifier: Any = None
        self.limits: Limits | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def model_version(self) -> str:
        return self.classifier.version if self.classifier is not None else "0"

    def load(self) -> bool:
        """Load weights and tokenizer, warm up, then mark the model ready."""
        classifier = load_classifier(self.model_dir, self.device, self.max_length)
        classifier.warm_up()
        self.classifier = classifier
        self.limits = Limits(
            max_batch_size=self.max_batch_size,
            max_positions=classifier.max_positions,
            vocab_size=classifier.vocab_size,
            type_vocab_size=classifier.type_vocab_size,
            num_labels=len(classifier.labels),
            default_top_k=self.top_k,
        )
        self.ready = True
        return self.ready

    def stop(self) -> None:
        """Release the torch thread (kserve calls this when the model is unloaded)."""
        self.ready = False
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def validate(self, payload: Any) -> Any:
        # preprocess already validated; kserve's own check assumes a dict or InferRequest.
        return payload

    async def preprocess(
        self, payload: dict | InferRequest, headers: dict[str, str] | None = None
    ) -> ClassifyRequest:
        """Decode a V1 dict or a V2 ``InferRequest``; malformed → ``InvalidInput`` (400)."""
        if self.limits is None:
            raise InvalidInput("model is not loaded")
        if isinstance(payload, InferRequest):
            return decode_v2(payload, self.limits)
        if isinstance(payload, dict | list):
            return decode_v1(payload, self.limits)
        raise InvalidInput(
            f"unsupported request body ({type(payload).__name__}); send JSON with "
            "Content-Type: application/json"
        )

    async def predict(
        self, payload: ClassifyRequest, headers: dict[str, str] | None = None
    ) -> Outcome:
        """Run the model on the torch thread and wait for it without blocking the loop."""
        loop = asyncio.get_running_loop()
        prediction = await loop.run_in_executor(self._torch_thread(), self._run, payload)
        return Outcome(request=payload, prediction=prediction)

    def _run(self, request: ClassifyRequest) -> Prediction:
        if request.texts is not None:
            return self.classifier.classify_texts(request.texts, request.top_k)
        return self.classifier.classify(request.encoded, request.top_k)

    async def postprocess(
        self,
        result: Outcome,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict | InferResponse:
        """Encode for the protocol the request came in on."""
        labels = self.classifier.labels
        if result.request.protocol == "v1":
            return encode_v1(result.prediction, labels, self.name, self.model_version)
        return encode_v2(result.request, result.prediction, labels, self.name, self.model_version)

    def get_input_types(self) -> list[dict]:
        return [dict(spec) for spec in INPUT_SPECS]

    def get_output_types(self) -> list[dict]:
        return [dict(spec) for spec in OUTPUT_SPECS]

    def _torch_thread(self) -> ThreadPoolExecutor:
        # One thread: several torch threads would each start an OpenMP team and fight.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
        return self._executor

    def __getstate__(self) -> dict[str, Any]:
        # ModelServer(workers=N) pickles the loaded model into each child process.
        state = self.__dict__.copy()
        state["_executor"] = None
        return state
