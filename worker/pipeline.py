"""What happens to one consumed batch: validate, label, build records, deliver, acknowledge.

A batch is finished when the delivery strategy (:mod:`worker.delivery`) has taken every
record it produced, a result or a dead letter per message; only then are its offsets marked
done for committing. Labels come from the result cache where it has them and from the
predictor for the rest (:mod:`worker.classify`).

Nothing one message contains may stop the worker: an exception while decoding, validating,
tokenizing or serializing one message becomes that message's dead letter
(``unprocessable``, naming the step). A predictor fault never does (:mod:`worker.circuit`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from confluent_kafka import Message

from core.settings import Settings
from resultcache import CachedPrediction, Keyspace, ResultCache, read_through
from schemas import ErrorClass
from worker.circuit import CircuitStopped
from worker.classify import Classifier
from worker.delivery import BatchAbandoned, DeliveryStrategy
from worker.messages import FATAL, MessagePath, describe
from worker.metrics import METRICS
from worker.offsets import OffsetTracker, Ticket
from worker.outputs import Labelled, Outgoing, OutputBuilder
from worker.partitions import Heal
from worker.predictor_client import Prediction
from worker.validation import Invalid

log = logging.getLogger(__name__)


class BatchProcessor:
    """Turns consumed messages into delivered outputs."""

    def __init__(
        self,
        settings: Settings,
        classifier: Classifier,
        delivery: DeliveryStrategy,
        tracker: OffsetTracker,
        outputs: OutputBuilder,
        cache: ResultCache | None = None,
    ) -> None:
        self._settings = settings
        self.classifier = classifier
        self._delivery = delivery
        self._tracker = tracker
        self._out = outputs
        w = settings.worker
        self._path = MessagePath(outputs, w.max_message_bytes, w.max_json_depth)
        self._cache = cache
        self._space: Keyspace | None = None  # the keyspace of the last version used
        self._seen_version: str | None = None  # of the last answer (unpinned requests)

    async def process(
        self, messages: list[Message], tickets: list[Ticket], *, heal: Heal | None = None
    ) -> None:
        """Handle one batch end to end; marks its tickets done once its outputs are taken.

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
        await self._delivery.deliver(outgoing, tickets)
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
        if self._cache is None:
            return await self.classifier.classify(texts)
        head: list[Labelled | Invalid] = []
        silent_s = time.monotonic() - self.classifier.answered_at
        if silent_s > self._settings.cache.version_check_s:
            head = await self._read_through(texts[:1], None)
            texts = texts[1:]
        tokenizers = self.classifier.tokenizers
        pinned, _ = tokenizers.current()
        space = self._keyspace(pinned if tokenizers.pinned else self._seen_version)
        labels = head + await self._read_through(texts, space)
        METRICS.cache_entries.set(len(self._cache))
        return labels

    async def _read_through(
        self, texts: list[str], space: Keyspace | None
    ) -> list[Labelled | Invalid]:
        """Look ``texts`` up in ``space`` (nothing when ``None``), classify the misses and
        cache their labels under the version that answered (the model may have moved)."""
        keys = [space.key(t) if space is not None else None for t in texts]

        def read(raw: bytes) -> Labelled | None:
            hit = CachedPrediction.from_bytes(raw)
            if hit is None or space is None:
                return None
            prediction = Prediction(hit.label, hit.label_id, hit.score, hit.top_k)
            return Labelled(prediction, space.model_name, space.version)

        def write(i: int, outcome: Labelled | Invalid) -> tuple[str, bytes] | None:
            if not isinstance(outcome, Labelled):
                return None
            version = self._seen_version = outcome.model_version
            key = keys[i] if space is not None and space.version == version else None
            if key is None:
                answered = self._keyspace(version)
                assert answered is not None
                key = answered.key(texts[i])
            p = outcome.prediction
            return key, CachedPrediction(p.label, p.label_id, p.score, list(p.top_k)).to_bytes()

        async def compute(missing: list[int]) -> list[Labelled | Invalid]:
            return await self.classifier.classify([texts[i] for i in missing])

        labels, _ = await read_through(self._cache, keys, compute, read=read, write=write)
        return labels
