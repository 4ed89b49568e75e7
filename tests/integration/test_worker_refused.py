"""The worker when the secured broker refuses it: a wrong password, a deleted user, a missing
ACL, an untrusted or misnamed certificate.

Each refusal must give one ERROR line naming the cause and the setting or ACL to fix, a
count in ``catmatch_worker_kafka_auth_errors_total{kind}``, a failing readiness probe and a
passing liveness probe (no restart loop), and no offset committed past an unprocessed
message; putting the credential or the ACL back resumes the same worker, losing nothing.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

import pytest
from pydantic import SecretStr

from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.secure_harness import (
    READ_COMMITTED,
    committed_all,
    committed_offsets,
    produce_as,
    product,
    secure_settings,
    wait_until,
)
from tests.integration.worker_harness import WorkerThread
from transport.access import ACCESS
from transport.acls import role_grants
from transport.broker.security import make_ca
from worker.metrics import METRICS

pytestmark = pytest.mark.integration

REFUSED_LINE = "Kafka refuses this client"
MALFORMED = [b"not json at all", b'{"product_id": "bad-1"}', b"[1, 2]"]


@pytest.fixture(autouse=True)
def _fresh_access():
    ACCESS.reset()
    yield
    ACCESS.reset()


def refused_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "transport.kafka.access" and r.levelno == logging.ERROR]


def auth_errors(kind: str) -> float:
    return METRICS.registry.get_sample_value(
        "catmatch_worker_kafka_auth_errors_total", {"kind": kind}) or 0.0


def refused_kinds(thread: WorkerThread) -> set[str]:
    probes = thread.worker.probes
    if probes is None:
        return set()
    ready, body = probes.readiness()
    return set() if ready else {r["kind"] for r in body.get("kafka_refused", [])}


def assert_waiting_not_stuck(thread: WorkerThread) -> None:
    probes = thread.worker.probes
    assert probes is not None
    alive, body = probes.liveness()
    assert alive, body
    assert thread.error is None and thread._thread.is_alive()


@pytest.fixture
def pipeline(kafka_secure, secure_names, predictor_server, tiny_model_dir):
    """``make(guarantee, grants=None, **kafka fields)`` → (worker user settings, names,
    settings); the worker user gets the worker role's grants (or ``grants``)."""

    def make(guarantee="at_least_once", grants=None, password=None):
        names = replace(secure_names, exactly_once=guarantee == "exactly_once")
        user = kafka_secure.user("worker", password=password)
        from transport.acls import apply_grants

        apply_grants(kafka_secure.admin_config,
                     grants if grants is not None else role_grants("worker", names),
                     f"User:{user.sasl_username}")
        settings = secure_settings(
            user, names, predictor_server.url, tiny_model_dir,
            model_name=predictor_server.model_name, processing_guarantee=guarantee,
            stall_timeout_s=5.0, transaction_timeout_s=10.0,
        )
        return user, names, settings

    return make


def test_a_wrong_password_is_said_once_and_the_right_one_resumes(
    kafka_secure, pipeline, caplog
):
    caplog.set_level(logging.WARNING)
    user, names, settings = pipeline()
    wrong = settings.model_copy(update={"kafka": user.model_copy(
        update={"sasl_password": SecretStr("not-the-password")})})
    n = 30
    produce_as(kafka_secure.admin(), names.input, (product(i) for i in range(n)))
    before = auth_errors("authentication")
    thread = WorkerThread(wrong).start()
    try:
        wait_until(lambda: "authentication" in refused_kinds(thread), 30, "not ready")
        time.sleep(8)  # librdkafka retries the login many times meanwhile
        lines = refused_lines(caplog)
        assert len(lines) == 1, lines
        assert f"refuse the login of user {user.sasl_username}" in lines[0]
        assert "CATMATCH_KAFKA__SASL_PASSWORD" in lines[0]
        assert auth_errors("authentication") - before >= 2
        assert_waiting_not_stuck(thread)
        assert committed_offsets(kafka_secure.admin_config, names.group, names.input) == {0: -1}
        # the operator fixes the credential on the cluster: the worker goes on by itself
        kafka_secure.set_password(user.sasl_username, "not-the-password")
        out = consume_all(kafka_secure.admin_config, names.output, expected=n, timeout=90)
        wait_until(lambda: committed_all(kafka_secure.admin_config, names.group,
                                         names.input), 30, "commits")
        wait_until(lambda: not refused_kinds(thread), 30, "ready again")
    finally:
        thread.stop()
    assert sorted({CategoryResult.model_validate_json(m.value()).product_id for m in out}) == [
        f"p-{i:05d}" for i in range(n)]
    assert any("accepts this client again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_deleted_user_is_refused_and_restoring_it_loses_nothing(
    kafka_secure, pipeline, caplog, guarantee
):
    caplog.set_level(logging.WARNING)
    user, names, settings = pipeline(guarantee)
    admin, shop = kafka_secure.admin(), kafka_secure.admin()
    thread = WorkerThread(settings).start()
    try:
        produce_as(shop, names.input, (product(i) for i in range(20)))
        consume_all(admin.client_config(), names.output, expected=20, timeout=90,
                    extra_conf=READ_COMMITTED)
        wait_until(lambda: committed_all(kafka_secure.admin_config, names.group,
                                         names.input), 30, "commits")
        kafka_secure.delete_user(user.sasl_username)  # revoked: its sessions end at re-login
        wait_until(lambda: "authentication" in refused_kinds(thread), 60, "not ready")
        produce_as(shop, names.input, (product(i) for i in range(20, 50)))
        time.sleep(5)
        assert committed_offsets(kafka_secure.admin_config, names.group, names.input) == {0: 20}
        assert_waiting_not_stuck(thread)
        assert len(refused_lines(caplog)) == 1, refused_lines(caplog)
        kafka_secure.set_password(user.sasl_username,
                                  user.sasl_password.get_secret_value())  # restored
        out = consume_all(admin.client_config(), names.output, expected=50, timeout=120,
                          extra_conf=READ_COMMITTED)
        wait_until(lambda: committed_all(kafka_secure.admin_config, names.group,
                                         names.input), 60, "commits")
        wait_until(lambda: not refused_kinds(thread), 30, "ready again")
    finally:
        thread.stop()
    ids = [CategoryResult.model_validate_json(m.value()).product_id for m in out]
    assert set(ids) == {f"p-{i:05d}" for i in range(50)}
    if guarantee == "exactly_once":
        assert len(ids) == 50


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("denied", ["output", "dead_letter"])
def test_a_missing_acl_holds_the_stream_and_loses_nothing(
    kafka_secure, pipeline, caplog, guarantee, denied
):
    """Without Write on one output topic, nothing is dead-lettered in its place and nothing is
    committed past the first message whose output is refused; granting it resumes."""
    caplog.set_level(logging.WARNING)
    from tests.fixtures.kafka import PipelineNames  # noqa: F401 - the fixture's type

    user, names, _ = pipeline(guarantee, grants=[])
    topic = names.output if denied == "output" else names.dead_letter
    full = role_grants("worker", names)
    missing = [g for g in full if g.name == topic and g.operation == "Write"]
    granted = [g for g in full if g not in missing]
    from transport.acls import apply_grants

    principal = f"User:{user.sasl_username}"
    apply_grants(kafka_secure.admin_config, granted, principal)
    _, _, settings = pipeline(guarantee, grants=[])
    settings = settings.model_copy(update={"kafka": user})
    valid = [product(i) for i in range(40)]
    bad = [(f"bad-{i}".encode(), v) for i, v in enumerate(MALFORMED)]
    records = valid[:10] + bad + valid[10:]  # the first malformed one is at offset 10
    produce_as(kafka_secure.admin(), names.input, records)
    thread = WorkerThread(settings).start()
    try:
        wait_until(lambda: "topic_authorization" in refused_kinds(thread), 60, "not ready")
        time.sleep(5)
        lines = refused_lines(caplog)
        assert len(lines) == 1, lines
        assert f"may not write topic {topic}" in lines[0]
        assert "catmatch acls apply --role worker" in lines[0]
        committed = committed_offsets(kafka_secure.admin_config, names.group, names.input)[0]
        assert committed <= (10 if denied == "dead_letter" else 0), committed
        assert_waiting_not_stuck(thread)
        apply_grants(kafka_secure.admin_config, missing, principal)  # the ACL is back
        out = consume_all(kafka_secure.admin_config, names.output, expected=len(valid),
                          timeout=120, extra_conf=READ_COMMITTED)
        wait_until(lambda: committed_all(kafka_secure.admin_config, names.group,
                                         names.input), 60, "commits")
        dead = consume_all(kafka_secure.admin_config, names.dead_letter, expected=len(bad) + 1,
                           timeout=5, extra_conf=READ_COMMITTED)
        wait_until(lambda: not refused_kinds(thread), 30, "ready again")
    finally:
        thread.stop()
    ids = [CategoryResult.model_validate_json(m.value()).product_id for m in out]
    assert set(ids) == {f"p-{i:05d}" for i in range(40)}
    dead_keys = [m.key() for m in dead]
    assert set(dead_keys) == {k for k, _ in bad}  # no valid product was dead-lettered
    if guarantee == "exactly_once":
        assert len(ids) == 40 and len(dead_keys) == len(bad)
    assert all(json.loads(m.value())["error_class"] for m in dead)


@pytest.mark.parametrize("case", ["untrusted", "hostname"])
def test_a_refused_certificate_makes_the_worker_unready(
    kafka_secure, pipeline, caplog, tmp_path, case
):
    caplog.set_level(logging.WARNING)
    user, names, settings = pipeline()
    if case == "untrusted":
        other_ca, _ = make_ca(tmp_path, "someone else's CA")
        kafka = user.model_copy(update={"ssl_ca_location": other_ca})
        kind, words = "tls_untrusted", "CATMATCH_KAFKA__SSL_CA_LOCATION"
    else:
        port = kafka_secure.bootstrap.rsplit(":", 1)[1]
        kafka = user.model_copy(update={"bootstrap_servers": f"localhost:{port}"})
        kind, words = "tls_hostname", "does not name the host localhost"
    thread = WorkerThread(settings.model_copy(update={"kafka": kafka})).start()
    try:
        wait_until(lambda: kind in refused_kinds(thread), 60, "not ready")
        time.sleep(5)
        lines = refused_lines(caplog)
        assert len(lines) == 1, lines
        assert words in lines[0]
        assert auth_errors(kind) >= 1
        assert_waiting_not_stuck(thread)
    finally:
        thread.stop()
