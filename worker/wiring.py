"""Building the worker's parts from the settings."""

from __future__ import annotations

import asyncio

from core.settings import Settings
from core.token_files import TokenFile
from resultcache import ResultCache, Tier
from transport.configuration import admin_config
from transport.metadata import topic_max_message_bytes
from worker.metrics import METRICS
from worker.predictor_client import PredictorClient
from worker.retry import RetryPolicy
from worker.tokenizer_source import TokenizerSource


def tokenizer_source(settings: Settings) -> TokenizerSource:
    """The model store's tokenizers when ``worker.model_ref`` is set, else a fixed
    tokenizer.json, or none at all (``worker.input_mode: text``)."""
    w = settings.worker
    if w.model_ref:
        return TokenizerSource(
            w.max_length,
            store_uri=settings.models.store_uri,
            model_name=settings.models.name,
            ref=w.model_ref,
        )
    if w.input_mode == "text":
        return TokenizerSource(w.max_length, text=True)
    return TokenizerSource(w.max_length, path=w.tokenizer_path)


def max_record_bytes(settings: Settings) -> int:
    """The largest record the worker may produce: the setting, the producer's
    ``message.max.bytes`` and the output topics' ``max.message.bytes``, whichever is least."""
    limits = [settings.worker.max_output_bytes]
    configured = settings.worker.producer_config.get("message.max.bytes")
    if configured is not None:
        limits.append(int(configured))
    topics = [settings.topics.output, settings.topics.dead_letter]
    limits += topic_max_message_bytes(admin_config(settings.kafka), topics).values()
    return min(limits)


def predictor_client(settings: Settings) -> PredictorClient:
    """The HTTP client of the InferenceService (``predictor.*``); a ``token_file`` is read
    here once (an unreadable one stops the start), then again whenever it changes."""
    p = settings.predictor
    token_file = None
    if p.token_file is not None:
        token_file = TokenFile(p.token_file)
        token_file.load()
    return PredictorClient(
        p.url,
        p.model_name,
        timeout_s=p.timeout_s,
        connect_timeout_s=p.connect_timeout_s,
        host_header=p.host_header,
        token=p.token.get_secret_value() if p.token else None,
        max_connections=p.max_connections,
        token_file=token_file,
    )


def result_cache(settings: Settings) -> ResultCache | None:
    """The result cache (``cache.*``), counted in the worker's metrics; ``None`` when off."""
    for tier in Tier:
        METRICS.cache_lookups.labels(result=tier.value)  # exported at 0 from the start
    return ResultCache.from_settings(
        settings.cache,
        observe=lambda tier, n: METRICS.cache_lookups.labels(result=tier).inc(n),
        on_error=METRICS.cache_errors.inc,
    )


def retry_policy(settings: Settings, stop: asyncio.Event) -> RetryPolicy:
    p = settings.predictor
    return RetryPolicy(stop, p.backoff_initial_s, p.backoff_max_s, p.server_error_attempts)

