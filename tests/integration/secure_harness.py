"""Helpers for tests against the secured session broker (``kafka_secure``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaException, Producer

from core.settings import KafkaSettings, Settings, TopicSettings
from tests.integration.worker_harness import pipeline_settings
from transport.acls import PipelineNames
from transport.configuration import connection_config
from transport.metadata import PartitionLag, group_lag

READ_COMMITTED = {"isolation.level": "read_committed"}


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    return pid.encode(), json.dumps({"product_id": pid, "title": f"Oak dining table {i}"}).encode()


def secure_settings(
    kafka: KafkaSettings, names: PipelineNames, predictor_url: str, model_dir: Any,
    model_name: str = "category-match", **worker: object,
) -> Settings:
    """A worker's settings for ``names``, logging in with ``kafka``."""
    topics = (names.input, names.output, names.dead_letter)
    base = pipeline_settings(kafka.bootstrap_servers, topics, predictor_url, model_dir,
                             model_name=model_name, group_id=names.group, **worker)
    return base.model_copy(update={
        "kafka": kafka,
        "topics": TopicSettings(input=names.input, output=names.output,
                                dead_letter=names.dead_letter),
    })


def produce_as(kafka: KafkaSettings, topic: str,
               records: Iterable[tuple[bytes | None, bytes]]) -> list[str]:
    """Produce as the user of ``kafka``; every delivery's error name ('' when acknowledged)."""
    producer = Producer({**connection_config(kafka), "enable.idempotence": True})
    results: list[str] = []
    for key, value in records:
        producer.produce(topic, key=key, value=value,
                         on_delivery=lambda err, _m: results.append(err.name() if err else ""))
        producer.poll(0)
    producer.flush(30)
    return results


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def _lags(admin_config: dict[str, Any], group: str, topic: str) -> list[PartitionLag]:
    """``group_lag``, asked again while the group coordinator is still loading."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return group_lag(admin_config, group, [topic], timeout=10)
        except KafkaException as exc:
            if not exc.args[0].retriable() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def committed_all(admin_config: dict[str, Any], group: str, topic: str) -> bool:
    """Whether ``group`` has committed every message of ``topic``."""
    lags = _lags(admin_config, group, topic)
    return all(lag.committed is not None and lag.lag == 0 for lag in lags)


def committed_offsets(admin_config: dict[str, Any], group: str, topic: str) -> dict[int, int]:
    """``{partition: committed offset}`` (-1: nothing committed)."""
    return {
        lag.partition: -1 if lag.committed is None else lag.committed
        for lag in _lags(admin_config, group, topic)
    }
