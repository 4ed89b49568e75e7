"""``processing_guarantee: exactly_once``: outputs and offsets in one Kafka transaction.

A real broker and a real predictor. Results and dead letters are read with
``isolation.level=read_committed``; the transaction markers in the output topic show that
they were written in transactions. The crash case (a worker killed mid-stream, no
duplicates) is in ``tests/e2e/test_worker_restart.py``.
"""

from __future__ import annotations

import json

import pytest

from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    end_offsets,
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)

pytestmark = pytest.mark.integration

READ_COMMITTED = {"isolation.level": "read_committed"}
READ_UNCOMMITTED = {"isolation.level": "read_uncommitted"}


def test_results_dead_letters_and_offsets_are_committed_in_transactions(
    kafka_bootstrap, kafka_config, topic_factory, predictor_server, tiny_model_dir
):
    topics = tuple(topic_factory(partitions=2, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(
        kafka_bootstrap, topics, predictor_server.url, tiny_model_dir,
        model_name=predictor_server.model_name, processing_guarantee="exactly_once",
        batch_size=16, max_inflight_batches=3,
    )
    n, bad = 300, [b"not json", b'{"product_id": "x", "title": "  "}', b"[1]"]
    records = [
        (f"p-{i:05d}".encode(),
         json.dumps({"product_id": f"p-{i:05d}", "title": f"Oak table {i}"}).encode())
        for i in range(n)
    ]
    produce(kafka_bootstrap, topics[0], records[:150] + [(b"bad", v) for v in bad] + records[150:])
    with running_worker(settings) as w:
        out = consume_all(kafka_config, topics[1], expected=n, timeout=90,
                          extra_conf=READ_COMMITTED)
        dead = consume_all(kafka_config, topics[2], expected=len(bad), timeout=30,
                           extra_conf=READ_COMMITTED)
        wait_committed(kafka_bootstrap, settings)
        assert w.worker.delivery.outbox.queued() == 0
    ids = [CategoryResult.model_validate_json(m.value()).product_id for m in out]
    assert sorted(ids) == [f"p-{i:05d}" for i in range(n)]  # every product once
    assert len(dead) == len(bad)
    # every transaction leaves a commit marker, so the topics hold more offsets than records
    assert sum(end_offsets(kafka_bootstrap, topics[1], 2).values()) > n
    assert sum(end_offsets(kafka_bootstrap, topics[2], 2).values()) > len(bad)
    # nothing outside a committed transaction
    everything = consume_all(kafka_config, topics[1], expected=n + 1, timeout=3,
                             extra_conf=READ_UNCOMMITTED)
    assert len(everything) == n
