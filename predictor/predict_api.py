"""``POST /predict``: labels for raw texts, for callers that are not on Kafka.

Request (validated by pydantic; anything else is HTTP 422 with the reasons)::

    {"text": ["Cordless drill 18 V with two batteries", "..."], "top_k": 3}

At most the predictor's ``--max-batch-size`` texts, each at most :data:`MAX_TOKENS` tokens
under the served version's own tokenizer (longer ones are refused, not silently cut; texts
within the limit are truncated at ``--max-length`` as everywhere else). Response::

    {"model_name": "category-match", "model_version": "v3", "cached": 1,
     "predictions": [{"label": "...", "label_id": 4, "score": 0.93,
                      "top_k": [{"label": "...", "label_id": 4, "score": 0.93}, ...]}, ...]}

Answers come from the same result cache as the workers' (:mod:`resultcache`, ``cache.*``
settings): the same keys (model name, the version serving the request, top-k, max length,
normalised text), so a product a worker labelled is a hit here and the other way round;
misses run on the model thread as one batch, like a V1 request. Nothing loaded is HTTP 503
(kserve's ``ModelNotReady``, as on V1 and V2). The bearer token (``serve.token``) guards this
route like the others; :mod:`predictor.routes` installs it.

Token counts come from the runtime (:meth:`~predictor.runtimes.ModelRuntime.count_tokens`);
a runtime that reads raw text in its own pipeline (sklearn) has only the character limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from kserve.errors import ModelNotReady
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.settings import CacheSettings
from predictor.batches import TEXT_INPUT, ClassifyRequest, Prediction
from predictor.model import CategoryModel, Job
from predictor.model_cache import Served
from predictor.protocol.common import MAX_TEXT_CHARS
from predictor.runtimes import ModelRuntime
from predictor.versions import Loaded
from resultcache import CachedPrediction, Keyspace, ResultCache, Tier, read_through

log = logging.getLogger(__name__)

PATH = "/predict"
MAX_TOKENS = 512

LOOKUPS = Counter(
    "catmatch_predictor_cache_lookups_total",
    "Result-cache lookups of /predict, per text, by result: hit_memory, hit_redis, miss.",
    ["result"],
)
CACHE_ERRORS = Counter(
    "catmatch_predictor_cache_errors_total",
    "Redis calls of /predict's result cache that failed (each became misses).",
)
REQUESTS = Counter(
    "catmatch_predictor_predict_requests_total",
    "/predict requests by outcome: ok, invalid (422), not_ready (503).",
    ["outcome"],
)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: list[str] = Field(min_length=1, description="texts to label, in order")
    top_k: int | None = Field(default=None, ge=1, description="best labels per text")


class LabelScore(BaseModel):
    label: str
    label_id: int
    score: float


class TextPrediction(BaseModel):
    label: str
    label_id: int
    score: float
    top_k: list[LabelScore]


class PredictResponse(BaseModel):
    model_name: str
    model_version: str
    cached: int = Field(description="answers that came from the result cache")
    predictions: list[TextPrediction]


class Rejected(ValueError):
    """The request is well-formed JSON but asks for what this model cannot do (HTTP 422)."""


class PredictEndpoint:
    """The route's handler, bound to one :class:`~predictor.model.CategoryModel`."""

    def __init__(self, model: CategoryModel, cache_settings: CacheSettings | None) -> None:
        self.model = model
        self.max_length = model.options.max_length
        self.prefix = cache_settings.key_prefix if cache_settings is not None else "catmatch"
        self.cache = (
            ResultCache.from_settings(
                cache_settings,
                observe=lambda tier, n: LOOKUPS.labels(result=tier).inc(n),
                on_error=CACHE_ERRORS.inc,
            )
            if cache_settings is not None
            else None
        )
        for tier in Tier:
            LOOKUPS.labels(result=tier.value)

    async def handle(self, request: Request) -> Response:
        try:
            body = PredictRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            REQUESTS.labels(outcome="invalid").inc()
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return JSONResponse({"error": "invalid request", "detail": errors}, status_code=422)
        try:
            served = self.model.live_or_not_ready()
        except ModelNotReady:
            REQUESTS.labels(outcome="not_ready").inc()
            raise  # kserve's handler answers 503, as for V1 and V2
        try:
            answer = await self.answer(body, served)
        except Rejected as exc:
            REQUESTS.labels(outcome="invalid").inc()
            return JSONResponse({"error": str(exc)}, status_code=422)
        REQUESTS.labels(outcome="ok").inc()
        return Response(answer.model_dump_json(), media_type="application/json")

    async def answer(self, body: PredictRequest, served: Served[Loaded]) -> PredictResponse:
        """Check the texts against the served version, then cache hits + one model batch."""
        limits = served.model.limits
        classifier = served.model.classifier
        if TEXT_INPUT not in limits.inputs or not limits.num_labels:
            raise Rejected("this model does not label texts; use the V1/V2 endpoints")
        texts = body.text
        if len(texts) > limits.max_batch_size:
            raise Rejected(f"{len(texts)} texts, more than the maximum of {limits.max_batch_size}")
        check_lengths(texts, classifier)
        asked = body.top_k or limits.default_top_k  # keyed as asked, like the workers' keys
        top_k = min(asked, limits.num_labels)
        space = Keyspace(self.model.name, served.version, asked, self.max_length, self.prefix)
        keys = [space.key(t) for t in texts]

        async def compute(missing: list[int]) -> list[CachedPrediction]:
            request = ClassifyRequest(protocol="v1", top_k=top_k, texts=[texts[i] for i in missing])
            job = await self.model.predict(Job(request, served))
            assert isinstance(job.prediction, Prediction)
            return to_cached(job.prediction, classifier.labels)

        rows, cached = await read_through(
            self.cache, keys, compute, read=CachedPrediction.from_bytes,
            write=lambda i, row: (keys[i], row.to_bytes()),
        )
        return PredictResponse(
            model_name=self.model.name,
            model_version=served.version,
            cached=cached,
            predictions=[
                TextPrediction(
                    label=r.label,
                    label_id=r.label_id,
                    score=r.score,
                    top_k=[LabelScore(label=a, label_id=b, score=c) for a, b, c in r.top_k],
                )
                for r in rows
            ],
        )

    async def close(self) -> None:
        if self.cache is not None:
            await self.cache.close()


def check_lengths(texts: list[str], classifier: ModelRuntime) -> None:
    """Refuse an empty text, or one over the character or token limit (:class:`Rejected`)."""
    for i, text in enumerate(texts):
        if not text.strip():
            raise Rejected(f"text {i} is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise Rejected(f"text {i} has more than {MAX_TEXT_CHARS} characters")
    # A token covers at least one byte of UTF-8, so only longer texts can exceed the limit:
    # most product titles are never tokenized twice.
    suspects = [i for i, t in enumerate(texts) if len(t.encode()) + 8 > MAX_TOKENS]
    if not suspects:
        return
    counts = classifier.count_tokens([texts[i] for i in suspects])
    if counts is None:
        return  # a text pipeline (sklearn): only the character limit applies
    for i, count in zip(suspects, counts, strict=True):
        if count > MAX_TOKENS:
            raise Rejected(f"text {i} has {count} tokens, more than {MAX_TOKENS}")


def to_cached(prediction: Prediction, labels: Sequence[str]) -> list[CachedPrediction]:
    """One cache entry per row: the best label, and the top-k (label, id, score) list."""
    out = []
    for row in range(prediction.rows):
        ids = prediction.top_ids[row].tolist()
        scores = prediction.top_scores[row].tolist()
        out.append(
            CachedPrediction(
                labels[int(prediction.label_ids[row])],
                int(prediction.label_ids[row]),
                float(prediction.scores[row]),
                [(labels[i], int(i), float(s)) for i, s in zip(ids, scores, strict=True)],
            )
        )
    return out


def install(app: FastAPI, model: CategoryModel, cache_settings: CacheSettings | None) -> None:
    """Add ``POST /predict`` for ``model`` to kserve's FastAPI app (once per app)."""
    if getattr(app.state, "catmatch_predict", False):
        return
    endpoint = PredictEndpoint(model, cache_settings)
    app.add_api_route(PATH, endpoint.handle, methods=["POST"], include_in_schema=True)
    app.state.catmatch_predict = True
