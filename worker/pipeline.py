"""What happens to one consumed batch: validate, tokenize, predict, produce, acknowledge.

A batch is finished only when every one of its messages has a result or a dead letter
acknowledged by the broker; only then are its offsets marked done for committing. With
exactly-once processing the outputs go to the transactional outbox instead
(:mod:`worker.transactions`), which produces them in the same transaction as the offsets.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message

from core.settings import Settings
from schemas import CategoryResult, DeadLetter, ErrorClass, LabelScore, ProductMessage, product_text
from schemas.dead_letter import b64
from transport.producer import AsyncProducer, DeliveryError, Headers
from worker.metrics import METRICS
from worker.offsets import OffsetTracker, Ticket
from worker.predictor_client import (
    Prediction,
    PredictorClient,
    PredictorRejected,
    PredictorServerError,
    PredictResult,
    VersionMismatch,
)
from worker.retry import RetryPolicy
from worker.tokenizer_source import TokenizerSource
from worker.transactions import TransactionalOutbox
from worker.validation import Invalid, parse_product

log = logging.getLogger(__name__)

MAX_VERSION_SWITCHES = 3


class BatchAbandoned(Exception):
    """The worker is stopping before the batch finished; its offsets stay uncommitted."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to produce: a result or a dead letter."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers | None = None
    event_time: datetime | None = None
    dead_letter: ErrorClass | None = None


@dataclass(frozen=True, slots=True)
class Labelled:
    prediction: Prediction
    model_name: str
    model_version: str


class BatchProcessor:
    """Turns consumed messages into acknowledged outputs."""

    def __init__(
        self,
        settings: Settings,
        worker_id: str,
        producer: AsyncProducer | None,
        client: PredictorClient,
        tokenizers: TokenizerSource,
        tracker: OffsetTracker,
        retry: RetryPolicy,
        stop: asyncio.Event,
        outbox: TransactionalOutbox[Outgoing] | None = None,
    ) -> None:
        self._settings = settings
        self._worker_id = worker_id
        self._producer = producer
        self._client = client
        self._tokenizers = tokenizers
        self._tracker = tracker
        self._retry = retry
        self._stop = stop
        self._outbox = outbox

    async def process(self, messages: list[Message], tickets: list[Ticket]) -> None:
        """Handle one batch end to end; marks its tickets done when all outputs are durable."""
        started = time.perf_counter()
        max_bytes = self._settings.worker.max_message_bytes
        outgoing: list[Outgoing] = []
        valid: list[tuple[Message, ProductMessage]] = []
        for msg in messages:
            parsed = parse_product(msg.value(), max_bytes)
            if isinstance(parsed, Invalid):
                outgoing.append(self._dead_letter(msg, parsed))
            else:
                valid.append((msg, parsed))
        if valid:
            labelled = await self._classify([p for _, p in valid])
            for (msg, product), outcome in zip(valid, labelled, strict=True):
                if isinstance(outcome, Invalid):
                    outgoing.append(self._dead_letter(msg, outcome))
                else:
                    outgoing.append(self._result(msg, product, outcome))
        if self._outbox is None:
            await self._deliver(outgoing)
        else:  # produced and committed with the offsets later, in one transaction
            partitions = {(t.topic, t.partition) for t in tickets}
            if len(partitions) != 1:
                raise ValueError(f"exactly-once batches hold one partition, got {partitions}")
            self._outbox.add(partitions.pop(), max(t.offset for t in tickets), outgoing)
        self._tracker.done(tickets)
        METRICS.batch_seconds.observe(time.perf_counter() - started)

    async def _predict(self, texts: list[str]) -> PredictResult:
        """One request, tokenized and pinned with the same model version.

        A 409 means the predictor moved to another version: switch to that version's
        tokenizer and encode again (a few times at most, in case versions move on). A
        version without a tokenizer (a text model) gets the texts themselves.
        """
        top_k = self._settings.worker.top_k
        for _ in range(MAX_VERSION_SWITCHES):
            version, tokenizer = self._tokenizers.current()
            batch = tokenizer.encode(texts) if tokenizer is not None else texts
            try:
                result = await self._retry.call(
                    functools.partial(self._client.infer, batch, top_k, version)
                )
            except VersionMismatch as exc:
                self._tokenizers.switch(exc.live_version)
                continue
            if self._tokenizers.pinned and result.live_version not in (None, version):
                # Served by our (still cached) version; the next batches use the live one.
                self._tokenizers.switch(result.live_version)
            return result
        raise PredictorServerError(f"model version kept changing ({MAX_VERSION_SWITCHES} tries)")

    async def _classify(self, products: list[ProductMessage]) -> list[Labelled | Invalid]:
        """Predict labels; a rejected batch is split until the offending product is alone."""
        texts = [product_text(p) for p in products]
        try:
            result = await self._predict(texts)
        except (PredictorRejected, PredictorServerError) as exc:
            if len(products) == 1:
                log.warning("predictor refused a product: %s", exc)
                return [Invalid(ErrorClass.PREDICTOR_REJECTED, str(exc)[:1000])]
            mid = len(products) // 2
            return await self._classify(products[:mid]) + await self._classify(products[mid:])
        return [Labelled(p, result.model_name, result.model_version) for p in result.predictions]

    def _result(self, msg: Message, product: ProductMessage, labelled: Labelled) -> Outgoing:
        pred = labelled.prediction
        result = CategoryResult(
            product_id=product.product_id,
            label=pred.label,
            label_id=pred.label_id,
            score=_prob(pred.score),
            top_k=[LabelScore(label=lab, label_id=i, score=_prob(s)) for lab, i, s in pred.top_k],
            model_name=labelled.model_name,
            model_version=labelled.model_version,
            event_time=product.event_time,
            processed_time=datetime.now(UTC),
            source_partition=msg.partition(),
            source_offset=msg.offset(),
        )
        return Outgoing(
            topic=self._settings.topics.output,
            key=product.product_id.encode(),
            value=result.model_dump_json().encode(),
            event_time=product.event_time,
        )

    def _dead_letter(self, msg: Message, invalid: Invalid) -> Outgoing:
        letter = DeadLetter(
            error_class=invalid.error_class,
            reason=invalid.reason,
            original_key_b64=b64(msg.key()),
            original_value_b64=b64(msg.value() or b"") or "",
            source_topic=msg.topic(),
            source_partition=msg.partition(),
            source_offset=msg.offset(),
            failed_time=datetime.now(UTC),
            worker_id=self._worker_id,
        )
        dead_letter_headers: Headers = list(letter.headers())
        return Outgoing(
            topic=self._settings.topics.dead_letter,
            key=msg.key(),
            value=letter.model_dump_json().encode(),
            headers=dead_letter_headers,
            dead_letter=invalid.error_class,
        )

    async def _deliver(self, outgoing: list[Outgoing]) -> None:
        """Produce everything and wait for the broker; failed deliveries are produced again."""
        assert self._producer is not None, "at-least-once needs the producer"
        backoff = 0.1
        todo = outgoing
        while todo:
            futures = [
                await self._producer.produce(o.topic, o.value, key=o.key, headers=o.headers)
                for o in todo
            ]
            acks = await asyncio.gather(*futures, return_exceptions=True)
            failed: list[Outgoing] = []
            for out, ack in zip(todo, acks, strict=True):
                if isinstance(ack, DeliveryError):
                    failed.append(out)
                elif isinstance(ack, BaseException):
                    raise ack
                else:
                    count_output(out)
            if failed:
                METRICS.delivery_errors.inc(len(failed))
                log.warning("%d deliveries failed; producing them again", len(failed))
                if self._stop.is_set():
                    raise BatchAbandoned(f"stopping with {len(failed)} undelivered outputs")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            todo = failed



def count_output(out: Outgoing) -> None:
    """Count a durable output: a result (with its end-to-end latency) or a dead letter."""
    if out.dead_letter is not None:
        METRICS.dead_letters.labels(error_class=out.dead_letter.value).inc()
        return
    METRICS.results.inc()
    if out.event_time is not None:
        lag = (datetime.now(UTC) - out.event_time).total_seconds()
        METRICS.end_to_end_seconds.observe(max(lag, 0.0))


def _prob(value: float) -> float:
    """Clamp fp16/fp32 rounding (1.0000001) into [0, 1]."""
    return min(max(value, 0.0), 1.0)
