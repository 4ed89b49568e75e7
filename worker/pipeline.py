"""What happens to one consumed batch: validate, tokenize, predict, produce, acknowledge.

A batch is finished only when every one of its messages has a result or a dead letter
acknowledged by the broker; only then are its offsets marked done for committing. With
exactly-once processing the outputs go to the transactional outbox instead
(:mod:`worker.transactions`), which produces them in the same transaction as the offsets.

Nothing one message contains may stop the worker: an exception while decoding, validating,
tokenizing or encoding one message becomes that message's dead letter (``unprocessable``,
naming the step). A predictor fault never does (:mod:`worker.circuit`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from datetime import UTC, datetime

from confluent_kafka import Message

from core.settings import Settings
from resultcache import CachedPrediction, Keyspace, ResultCache
from schemas import ErrorClass
from transport.producer import AsyncProducer
from transport.threads import SerialThread
from worker.batching import BatchSizer
from worker.circuit import CircuitStopped, FaultKind, PredictorCircuit
from worker.messages import FATAL, MessagePath, PoisonTexts, describe, encode
from worker.metrics import METRICS
from worker.offsets import OffsetTracker, Ticket
from worker.outputs import Labelled, Outgoing, OutputBuilder, count_outputs, replace_refused
from worker.partitions import Heal
from worker.predictor_client import (
    Prediction,
    PredictorClient,
    PredictorRejected,
    PredictorServerError,
    PredictorUnauthorized,
    PredictResult,
    VersionMismatch,
)
from worker.retry import RetryPolicy
from worker.tokenization import BatchTokenizer, EncodedBatch
from worker.tokenizer_source import TokenizerSource
from worker.transactions import TransactionalOutbox
from worker.validation import Invalid

log = logging.getLogger(__name__)

MAX_VERSION_SWITCHES = 3
CANARY_TEXT = "Stainless steel kettle 1.7 l"


class BatchAbandoned(Exception):
    """The worker is stopping before the batch finished; its offsets stay uncommitted."""


class BatchProcessor:
    """Turns consumed messages into acknowledged outputs."""

    def __init__(
        self,
        settings: Settings,
        producer: AsyncProducer | None,
        client: PredictorClient,
        tokenizers: TokenizerSource,
        tracker: OffsetTracker,
        retry: RetryPolicy,
        stop: asyncio.Event,
        outputs: OutputBuilder,
        circuit: PredictorCircuit | None = None,
        outbox: TransactionalOutbox[Outgoing] | None = None,
        cache: ResultCache | None = None,
    ) -> None:
        self._settings = settings
        self._producer = producer
        self._client = client
        self._tokenizers = tokenizers
        self._tracker = tracker
        self._retry = retry
        self._stop = stop
        self._out = outputs
        w = settings.worker
        self._path = MessagePath(outputs, w.max_message_bytes, w.max_json_depth)
        p = settings.predictor
        self.circuit = circuit or PredictorCircuit(
            self.canary, stop, initial_s=p.backoff_initial_s, max_s=p.backoff_max_s
        )
        self._outbox = outbox
        self._tokenize = SerialThread("tokenizer")
        self.sizer = BatchSizer(
            min(w.min_batch_size, w.batch_size), w.batch_size, w.target_batch_seconds,
            adaptive=w.adaptive_batching,
        )
        self._cache = cache
        self._space: Keyspace | None = None  # the keyspace of the last version used
        self._seen_version: str | None = None  # of the last answer (unpinned requests)
        self._answered_at = -math.inf  # when the predictor last answered

    async def process(
        self, messages: list[Message], tickets: list[Ticket], *, heal: Heal | None = None
    ) -> None:
        """Handle one batch end to end; marks its tickets done when all outputs are durable.

        ``heal`` (a crash loop was detected on these messages; see :mod:`worker.crashloop`):
        an unexpected error dead-letters them as ``worker_crash`` instead of stopping, once.
        """
        started = time.perf_counter()
        try:
            outgoing = await self._outputs_for(messages)
        except FATAL:
            raise
        except BaseException as exc:
            if heal is None or isinstance(exc, BatchAbandoned | CircuitStopped):
                raise
            if not heal.take():
                raise
            why = f"{heal.reason}; last error: {describe(exc)}"
            log.error("dead-lettering %d message(s) as worker_crash: %s", len(messages), why)
            outgoing = [self._out.dead_letter(m, ErrorClass.WORKER_CRASH, why) for m in messages]
        if self._outbox is None:
            await self._deliver(outgoing)
        else:  # produced and committed with the offsets later, in one transaction
            partitions = {(t.topic, t.partition) for t in tickets}
            if len(partitions) != 1:
                raise ValueError(f"exactly-once batches hold one partition, got {partitions}")
            queued = self._outbox.add(
                partitions.pop(), max(t.offset for t in tickets), outgoing,
                still_owned=lambda: self._tracker.current(tickets),
            )
            if not queued:
                log.info("outputs of a revoked partition's batch dropped; its next owner redoes it")
        self._tracker.done(tickets)
        METRICS.batch_seconds.observe(time.perf_counter() - started)

    async def _outputs_for(self, messages: list[Message]) -> list[Outgoing]:
        outgoing, valid = self._path.triage(messages)
        if valid:
            labelled = await self._labels([text for _, _, text in valid])
            now = datetime.now(UTC)  # the batch's processed_time
            for (msg, product, _), outcome in zip(valid, labelled, strict=True):
                outgoing.append(self._path.output(msg, product, outcome, now))
        return outgoing

    # -- the result cache -------------------------------------------------------------------

    def _keyspace(self, version: str | None) -> Keyspace | None:
        if version is None:
            return None
        if self._space is None or self._space.version != version:  # one per model version
            s = self._settings
            self._space = Keyspace(
                s.predictor.model_name, version, s.worker.top_k, s.worker.max_length,
                s.cache.key_prefix,
            )
        return self._space

    async def _labels(self, texts: list[str]) -> list[Labelled | Invalid]:
        """Cached answers where the result cache has them, the predictor for the rest.

        Keys carry the model version: the one requests are pinned to (``model_ref``), else
        the version of the predictor's last answer. That version is confirmed before any
        lookup: when the predictor has not answered for ``cache.version_check_s``, the
        batch's first product goes to it alone first, so a stream of hits cannot hide a
        model swap. Only labels are cached, never dead letters.
        """
        cache = self._cache
        if cache is None:
            return await self._classify(texts)
        head: list[Labelled | Invalid] = []
        if time.monotonic() - self._answered_at > self._settings.cache.version_check_s:
            head = await self._classify(texts[:1])
            await self._remember(texts[:1], head)
            texts = texts[1:]
        pinned, _ = self._tokenizers.current()
        space = self._keyspace(pinned if self._tokenizers.pinned else self._seen_version)
        keys: list[str] = []
        outcomes: list[Labelled | Invalid | None] = [None] * len(texts)
        if space is not None and texts:
            keys = [space.key(t) for t in texts]
            for i, raw in enumerate(await cache.get_many(keys)):
                hit = CachedPrediction.decode(raw) if raw is not None else None
                if hit is not None:
                    prediction = Prediction(hit.label, hit.label_id, hit.score, hit.top_k)
                    outcomes[i] = Labelled(prediction, space.model_name, space.version)
        missing = [i for i, o in enumerate(outcomes) if o is None]
        if missing:
            fresh = await self._classify([texts[i] for i in missing])
            for i, outcome in zip(missing, fresh, strict=True):
                outcomes[i] = outcome
            looked_up = [keys[i] for i in missing] if keys else None
            await self._remember([texts[i] for i in missing], fresh, space, looked_up)
        METRICS.cache_entries.set(len(cache))
        labels = [o for o in outcomes if o is not None]
        assert len(labels) == len(texts)
        return head + labels

    async def _remember(
        self,
        texts: list[str],
        outcomes: list[Labelled | Invalid],
        space: Keyspace | None = None,
        keys: list[str] | None = None,
    ) -> None:
        """Cache the labels. ``keys`` (the lookup's, in ``space``) are reused for answers of
        that version; an answer of another version (the model just moved) gets its own."""
        assert self._cache is not None
        items: list[tuple[str, bytes]] = []
        for i, (text, outcome) in enumerate(zip(texts, outcomes, strict=True)):
            if not isinstance(outcome, Labelled):
                continue
            version = self._seen_version = outcome.model_version
            if keys is not None and space is not None and space.version == version:
                key = keys[i]
            else:
                answered = self._keyspace(version)
                assert answered is not None
                key = answered.key(text)
            p = outcome.prediction
            value = CachedPrediction(p.label, p.label_id, p.score, list(p.top_k)).encode()
            items.append((key, value))
        if items:
            await self._cache.put_many(items)

    # -- tokenizing and predicting ----------------------------------------------------------

    async def _predict(self, texts: list[str]) -> PredictResult:
        """One request, tokenized and pinned with the same model version.

        A 409 means the predictor moved to another version: switch to that version's
        tokenizer and encode again (a few times at most, in case versions move on). A
        version without a tokenizer (a text model) gets the texts themselves.

        Raises:
            PoisonTexts: some texts cannot be tokenized.
        """
        top_k = self._settings.worker.top_k
        for _ in range(MAX_VERSION_SWITCHES):
            version, tokenizer = self._tokenizers.current()
            batch = await self._encode(tokenizer, texts) if tokenizer is not None else texts
            try:
                result = await self._retry.call(
                    functools.partial(self._timed_infer, batch, len(texts), top_k, version)
                )
            except VersionMismatch as exc:
                self._tokenizers.switch(exc.live_version)
                continue
            if self._tokenizers.pinned and result.live_version not in (None, version):
                # Served by our (still cached) version; the next batches use the live one.
                self._tokenizers.switch(result.live_version)
            return result
        raise PredictorServerError(f"model version kept changing ({MAX_VERSION_SWITCHES} tries)")

    async def _timed_infer(
        self, batch: EncodedBatch | list[str], rows: int, top_k: int, version: str | None
    ) -> PredictResult:
        """One predictor call; its latency feeds the adaptive batch size when it succeeds."""
        started = time.perf_counter()
        result = await self._client.infer(batch, top_k, version)
        self.sizer.observe(rows, time.perf_counter() - started)
        self._answered_at = time.monotonic()
        return result

    async def _encode(self, tokenizer: BatchTokenizer, texts: list[str]) -> EncodedBatch:
        """Tokenize on the tokenizer thread: the Rust tokenizer releases the GIL, so the
        event loop decodes, encodes and produces other batches meanwhile."""
        encoded: EncodedBatch = await asyncio.wrap_future(
            self._tokenize.submit(lambda: encode(tokenizer, texts))
        )
        return encoded

    async def canary(self) -> None:
        """One request with a known-good product; raises unless the predictor answers it."""
        version, tokenizer = self._tokenizers.current()
        batch = encode(tokenizer, [CANARY_TEXT]) if tokenizer is not None else [CANARY_TEXT]
        try:
            await self._client.infer(batch, 1, version)
        except VersionMismatch as exc:  # alive, and serving another version
            self._tokenizers.switch(exc.live_version)

    async def _classify(self, texts: list[str]) -> list[Labelled | Invalid]:
        """Predict labels. A failed batch is split until the failing product is alone, and
        dead-lettered only if the predictor answers the canary meanwhile (a poison row);
        otherwise the predictor is at fault and the batch waits for it."""
        while True:
            try:
                result = await self._predict(texts)
            except PoisonTexts as exc:
                return await self._without(texts, exc.reasons)
            except PredictorUnauthorized as exc:
                await self.circuit.trip(FaultKind.UNAUTHORIZED, str(exc))
                continue
            except (PredictorRejected, PredictorServerError) as exc:
                if not await self.circuit.canary_ok():
                    kind = (
                        FaultKind.SERVER_ERROR
                        if isinstance(exc, PredictorServerError)
                        else FaultKind.REJECTS_EVERYTHING
                    )
                    await self.circuit.trip(kind, str(exc))
                    continue
                if len(texts) == 1:
                    log.warning("predictor refused a product (a poison row): %s", exc)
                    return [Invalid(ErrorClass.PREDICTOR_REJECTED, str(exc)[:1000])]
                mid = len(texts) // 2
                return await self._classify(texts[:mid]) + await self._classify(texts[mid:])
            return [
                Labelled(p, result.model_name, result.model_version) for p in result.predictions
            ]

    async def _without(
        self, texts: list[str], poison: dict[int, str]
    ) -> list[Labelled | Invalid]:
        """Classify all but the untokenizable products; those become dead letters."""
        keep = [t for i, t in enumerate(texts) if i not in poison]
        labelled = iter(await self._classify(keep) if keep else [])
        return [
            Invalid(ErrorClass.UNPROCESSABLE, f"tokenizing: {poison[i]}")
            if i in poison
            else next(labelled)
            for i in range(len(texts))
        ]

    # -- producing --------------------------------------------------------------------------

    async def _deliver(self, outgoing: list[Outgoing]) -> None:
        """Produce everything and wait for the broker. Failed deliveries are produced again;
        a record the broker refuses for good is replaced by its fallback."""
        assert self._producer is not None, "at-least-once needs the producer"
        backoff = 0.1
        todo = outgoing
        while todo:
            errors = await self._producer.produce_many(
                [(o.topic, o.key, o.value, o.headers) for o in todo]
            )
            again: list[Outgoing] = []
            retried = 0
            delivered: list[Outgoing] = []
            for out, error in zip(todo, errors, strict=True):
                if error is None:
                    delivered.append(out)
                    continue
                replacement = replace_refused(out, error)
                retried += replacement is None
                again.append(replacement or out)
            count_outputs(delivered)
            if retried:
                METRICS.delivery_errors.inc(retried)
                log.warning("%d deliveries failed; producing them again", retried)
                if self._stop.is_set():
                    raise BatchAbandoned(f"stopping with {retried} undelivered outputs")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            todo = again
