"""Kill a worker process mid-stream; the supervisor restarts it and no product goes missing.

At least once, a product may be labelled twice after the crash. Exactly once (Kafka
transactions), a ``read_committed`` reader sees every product exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import committed, end_offsets, produce

pytestmark = pytest.mark.e2e

N = 1000
PARTITIONS = 2


def worker_children(pid: int) -> list[int]:
    """Worker processes started by the supervisor (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_killed_worker_is_restarted_and_nothing_is_lost(
    kafka_bootstrap, kafka_config, topic_factory, predictor_server, tiny_model_dir, tmp_path,
    guarantee,
):
    topics = [topic_factory(partitions=PARTITIONS, prefix=p) for p in ("in", "out", "dlq")]
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "CATMATCH_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CATMATCH_TOPICS__INPUT": topics[0],
        "CATMATCH_TOPICS__OUTPUT": topics[1],
        "CATMATCH_TOPICS__DEAD_LETTER": topics[2],
        "CATMATCH_PREDICTOR__URL": predictor_server.url,
        "CATMATCH_PREDICTOR__MODEL_NAME": predictor_server.model_name,
        "CATMATCH_WORKER__TOKENIZER_PATH": str(tiny_model_dir / "tokenizer.json"),
        "CATMATCH_WORKER__GROUP_ID": group,
        "CATMATCH_WORKER__METRICS_PORT": "0",
        "CATMATCH_WORKER__BATCH_SIZE": "16",
        "CATMATCH_WORKER__PROCESSING_GUARANTEE": guarantee,
    }
    log = (tmp_path / "work.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "catmatch", "work", "--workers", str(PARTITIONS)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        records = [
            (
                f"p-{i:05d}".encode(),
                json.dumps(
                    {"product_id": f"p-{i:05d}", "title": f"Cotton T-shirt size {i}"}
                ).encode(),
            )
            for i in range(N)
        ]
        produce(kafka_bootstrap, topics[0], records[: N // 2])
        wait_for(lambda: len(worker_children(proc.pid)) == PARTITIONS, 60, "workers")
        # Mid-stream: some results are out, then one worker dies without any cleanup.
        consume_all(kafka_config, topics[1], expected=50, timeout=90)
        victim = worker_children(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        produce(kafka_bootstrap, topics[0], records[N // 2 :])
        wait_for(
            lambda: (
                len(worker_children(proc.pid)) == PARTITIONS
                and victim not in worker_children(proc.pid)
            ),
            60,
            "the supervisor to restart the worker",
        )
        # At-least-once: a product may be labelled twice after a crash, never missed.
        want = {f"p-{i:05d}" for i in range(N)}
        ids: set[str] = set()
        expected = N
        deadline = time.monotonic() + 180
        while ids != want and time.monotonic() < deadline:
            out = consume_all(kafka_config, topics[1], expected=expected, timeout=60)
            ids = {json.loads(m.value())["product_id"] for m in out}
            expected = len(out) + len(want - ids)
        assert ids == want
        if guarantee == "exactly_once":  # and nothing twice (consume_all reads committed)
            out = consume_all(kafka_config, topics[1], expected=N + 1, timeout=5)
            assert len(out) == N
        end = end_offsets(kafka_bootstrap, topics[0], PARTITIONS)
        wait_for(
            lambda: committed(kafka_bootstrap, group, topics[0], PARTITIONS) == end,
            60,
            "offsets to be committed",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "work.log").read_text()[-3000:]
