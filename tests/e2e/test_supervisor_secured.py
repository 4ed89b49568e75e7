"""``python -m worker --workers 2`` (the supervisor, as ``catmatch work --workers 2`` runs it)
on the secured broker: both worker processes log in with the worker role's user, whose
password reaches them through ``CATMATCH_KAFKA__SASL_PASSWORD``, and share the partitions."""

from __future__ import annotations

import uuid

import pytest

from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.secure_harness import committed_all, produce_as, product, wait_until
from toolbox.harness.children import child_env
from toolbox.harness.secure import kafka_env
from toolbox.harness.workers import WorkerProcess, wait_assigned
from transport.acls import PipelineNames

pytestmark = pytest.mark.e2e


def test_the_supervisor_runs_secured_workers(kafka_secure, predictor_server, tiny_model_dir,
                                             tmp_path):
    u = uuid.uuid4().hex[:10]
    names = PipelineNames(f"in-{u}", f"out-{u}", f"dlq-{u}", f"g-{u}")
    kafka_secure.topics(names, partitions=2)
    user = kafka_secure.user("worker")
    kafka_secure.grant("worker", user, names)
    env = {
        **child_env(inherit_settings=False), **kafka_env(user),
        "CATMATCH_TOPICS__INPUT": names.input, "CATMATCH_TOPICS__OUTPUT": names.output,
        "CATMATCH_TOPICS__DEAD_LETTER": names.dead_letter,
        "CATMATCH_WORKER__GROUP_ID": names.group,
        "CATMATCH_WORKER__TOKENIZER_PATH": str(tiny_model_dir / "tokenizer.json"),
        "CATMATCH_PREDICTOR__URL": predictor_server.url,
        "CATMATCH_PREDICTOR__MODEL_NAME": predictor_server.model_name,
    }
    workers = WorkerProcess("workers", tmp_path / "workers.log", env, workers=2).start()
    try:
        wait_assigned([workers])
        n = 80
        produce_as(kafka_secure.admin(), names.input, (product(i) for i in range(n)))
        out = consume_all(kafka_secure.admin_config, names.output, expected=n, timeout=120)
        wait_until(lambda: committed_all(kafka_secure.admin_config, names.group, names.input),
                   60, "commits")
    finally:
        workers.stop()
    ids = {CategoryResult.model_validate_json(m.value()).product_id for m in out}
    assert ids == {f"p-{i:05d}" for i in range(n)}
    assert {m.partition() for m in out} == {0, 1}
    log = (tmp_path / "workers.log").read_text()
    assert "refuses this client" not in log
