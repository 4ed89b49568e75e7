"""Texts to labels through the predictor: tokenize, pin the version, retry, isolate poison.

A failed batch is split until the failing product is alone, and that product is
dead-lettered only if the predictor answers the canary meanwhile (a poison row); otherwise
the predictor is at fault and the batch waits for it behind the circuit
(:mod:`worker.circuit`). A predictor fault therefore never turns products into dead letters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time

from core.settings import Settings
from schemas import ErrorClass
from transport.threads import SerialThread
from worker.batching import BatchSizer
from worker.circuit import FaultKind, PredictorCircuit
from worker.messages import PoisonTexts, tokenize
from worker.outputs import Labelled
from worker.predictor_client import (
    PredictorClient,
    PredictorRejected,
    PredictorServerError,
    PredictorUnauthorized,
    PredictResult,
    VersionMismatch,
)
from worker.retry import RetryPolicy
from worker.tokenization import BatchTokenizer, TokenizedBatch
from worker.tokenizer_source import TokenizerSource
from worker.validation import Invalid

log = logging.getLogger(__name__)

MAX_VERSION_SWITCHES = 3
CANARY_TEXT = "Stainless steel kettle 1.7 l"


class Classifier:
    """Labels for texts, one predictor request per batch (split only on failure)."""

    def __init__(
        self,
        settings: Settings,
        client: PredictorClient,
        tokenizers: TokenizerSource,
        retry: RetryPolicy,
        stop: asyncio.Event,
    ) -> None:
        w, p = settings.worker, settings.predictor
        self._client = client
        self.tokenizers = tokenizers
        self._retry = retry
        self._top_k = w.top_k
        self._tokenizer_thread = SerialThread("tokenizer")
        self.circuit = PredictorCircuit(
            self.canary, stop, initial_s=p.backoff_initial_s, max_s=p.backoff_max_s
        )
        self.sizer = BatchSizer(
            min(w.min_batch_size, w.batch_size), w.batch_size, w.target_batch_seconds,
            adaptive=w.adaptive_batching,
        )
        self.answered_at = -math.inf  # when the predictor last answered

    async def classify(self, texts: list[str]) -> list[Labelled | Invalid]:
        """A label (or a ``predictor_rejected`` / ``unprocessable`` outcome) per text."""
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
                return await self.classify(texts[:mid]) + await self.classify(texts[mid:])
            return [
                Labelled(p, result.model_name, result.model_version) for p in result.predictions
            ]

    async def _without(
        self, texts: list[str], poison: dict[int, str]
    ) -> list[Labelled | Invalid]:
        """Classify all but the untokenizable products; those become dead letters."""
        keep = [t for i, t in enumerate(texts) if i not in poison]
        labelled = iter(await self.classify(keep) if keep else [])
        return [
            Invalid(ErrorClass.UNPROCESSABLE, f"tokenizing: {poison[i]}")
            if i in poison
            else next(labelled)
            for i in range(len(texts))
        ]

    async def _predict(self, texts: list[str]) -> PredictResult:
        """One request, tokenized and pinned with the same model version.

        A 409 means the predictor moved to another version: switch to that version's
        tokenizer and tokenize again (a few times at most, in case versions move on). A
        version without a tokenizer (a text model) gets the texts themselves.

        Raises:
            PoisonTexts: some texts cannot be tokenized.
        """
        for _ in range(MAX_VERSION_SWITCHES):
            version, tokenizer = self.tokenizers.current()
            batch = await self._tokenize(tokenizer, texts) if tokenizer is not None else texts
            try:
                result = await self._retry.call(
                    functools.partial(self._timed_infer, batch, len(texts), version)
                )
            except VersionMismatch as exc:
                self.tokenizers.switch(exc.live_version)
                continue
            if self.tokenizers.pinned and result.live_version not in (None, version):
                # Served by our (still cached) version; the next batches use the live one.
                self.tokenizers.switch(result.live_version)
            return result
        raise PredictorServerError(f"model version kept changing ({MAX_VERSION_SWITCHES} tries)")

    async def _timed_infer(
        self, batch: TokenizedBatch | list[str], rows: int, version: str | None
    ) -> PredictResult:
        """One predictor call; its latency feeds the adaptive batch size when it succeeds."""
        started = time.perf_counter()
        result = await self._client.infer(batch, self._top_k, version)
        self.sizer.observe(rows, time.perf_counter() - started)
        self.answered_at = time.monotonic()
        return result

    async def _tokenize(self, tokenizer: BatchTokenizer, texts: list[str]) -> TokenizedBatch:
        """Tokenize on the tokenizer thread: the Rust tokenizer releases the GIL, so the
        event loop decodes, serializes and produces other batches meanwhile."""
        tokenized: TokenizedBatch = await asyncio.wrap_future(
            self._tokenizer_thread.submit(lambda: tokenize(tokenizer, texts))
        )
        return tokenized

    async def canary(self) -> None:
        """One request with a known-good product; raises unless the predictor answers it."""
        version, tokenizer = self.tokenizers.current()
        batch = tokenize(tokenizer, [CANARY_TEXT]) if tokenizer is not None else [CANARY_TEXT]
        try:
            await self._client.infer(batch, 1, version)
        except VersionMismatch as exc:  # alive, and serving another version
            self.tokenizers.switch(exc.live_version)
