"""Helpers for tests against the secured session broker (``kafka_secure``) or the secured
3-node cluster (``kafka_secure_cluster``)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException, Producer

from core.settings import KafkaSettings, Settings, TopicSettings
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import pipeline_settings, running_worker
from toolbox.readers import read_to_end
from transport.acls import PipelineNames
from transport.configuration import connection_config
from transport.metadata import PartitionLag, group_lag

if TYPE_CHECKING:
    from tests.fixtures.kafka import SecureKafka

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
               records: Iterable[tuple[bytes | None, bytes]], rate: float | None = None
               ) -> list[str]:
    """Produce as the user of ``kafka`` (at ``rate`` records/s if given); every delivery's
    error name ('' when acknowledged)."""
    producer = Producer({**connection_config(kafka), "enable.idempotence": True})
    results: list[str] = []
    for key, value in records:
        producer.produce(topic, key=key, value=value,
                         on_delivery=lambda err, _m: results.append(err.name() if err else ""))
        producer.poll(0)
        if rate:
            time.sleep(1 / rate)
    producer.flush(60)
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


def label_as_roles(
    kafka: SecureKafka, names: PipelineNames, predictor: Any, model_dir: Any, guarantee: str,
    n: int, *, mid_stream: Callable[[], None] | None = None, rate: float = 100.0,
) -> Counter[str]:
    """A worker that logs in with only the ``worker`` role's ACLs labels ``n`` products that a
    ``producer``-role user sends; returns how often each product id is in the output topic
    (every committed result, read as the super user), once the group committed the whole
    input.

    Without ``mid_stream`` the products are all in the input before the worker starts. With
    it they flow at ``rate`` products/s while the worker runs, and ``mid_stream()`` is called
    (e.g. to kill a node) once the worker has committed a quarter of them; every product must
    still be acknowledged to the producer.
    """
    names = replace(names, exactly_once=guarantee == "exactly_once")
    worker_user, shop = kafka.user("worker"), kafka.user("shop")
    kafka.grant("worker", worker_user, names)
    kafka.grant("producer", shop, names)
    settings = secure_settings(worker_user, names, predictor.url, model_dir,
                               model_name=predictor.model_name,
                               processing_guarantee=guarantee)
    records = [product(i) for i in range(n)]
    delivered: list[str] = []
    producing = threading.Thread(
        target=lambda: delivered.extend(produce_as(shop, names.input, records, rate)),
        name="shop", daemon=True)
    if mid_stream is None:
        delivered = produce_as(shop, names.input, records)
    with running_worker(settings):
        if mid_stream is not None:
            producing.start()
            wait_until(lambda: committed_offsets(kafka.admin_config, names.group,
                                                 names.input).get(0, -1) >= n // 4,
                       60, "a quarter of the products to be committed")
            mid_stream()
            producing.join(120)
            assert not producing.is_alive(), "the shop's producer did not finish"
        assert delivered == [""] * n, Counter(delivered)
        consume_all(kafka.admin_config, names.output, expected=n, timeout=120,
                    extra_conf=READ_COMMITTED)
        wait_until(lambda: committed_all(kafka.admin_config, names.group, names.input),
                   60, "the worker's commits")
    return Counter(CategoryResult.model_validate_json(m.value or b"").product_id
                   for m in read_to_end(Settings(kafka=kafka.admin()), names.output))
