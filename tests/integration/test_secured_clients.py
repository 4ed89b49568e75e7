"""Every command-line client on the secured broker, each as a user with only its role's ACLs,
and the one-line errors the refused ones print.

The commands run in this process (``catmatch.cli.main``) with ``CATMATCH_*`` variables, as
an operator would run them. ``test_kafka_security_cluster.py`` runs the role test again on a
secured 3-node cluster.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from catmatch import cli
from core.settings import KafkaSettings
from schemas.dead_letter import DeadLetter, ErrorClass
from tests.integration.secure_harness import produce_as, product
from toolbox.harness.secure import kafka_env
from transport import topics as topics_job
from transport.access import ACCESS
from transport.acls import PipelineNames
from transport.configuration import connection_config
from transport.metadata import group_lag

pytestmark = pytest.mark.integration


@pytest.fixture
def names() -> PipelineNames:
    u = uuid.uuid4().hex[:10]
    return PipelineNames(f"in-{u}", f"out-{u}", f"dlq-{u}", f"g-{u}")


@pytest.fixture
def run_as(monkeypatch, capsys, names):
    """``run_as(kafka settings, *argv)`` → ``(exit status, stdout, stderr)``."""

    def run(kafka: KafkaSettings, *argv: str) -> tuple[int, str, str]:
        env = {**kafka_env(kafka), "CATMATCH_TOPICS__INPUT": names.input,
               "CATMATCH_TOPICS__OUTPUT": names.output,
               "CATMATCH_TOPICS__DEAD_LETTER": names.dead_letter,
               "CATMATCH_WORKER__GROUP_ID": names.group}
        for key in ("SASL_USERNAME", "SASL_PASSWORD", "SASL_MECHANISM", "SSL_CA_LOCATION",
                    "SECURITY_PROTOCOL"):
            monkeypatch.delenv(f"CATMATCH_KAFKA__{key}", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def _dead_letters(kafka: KafkaSettings, names: PipelineNames, count: int) -> None:
    producer = Producer(connection_config(kafka))
    for i in range(count):
        original = b"not json %d" % i
        letter = DeadLetter(
            error_class=ErrorClass.INVALID_JSON, reason="Expecting value",
            original_key_b64=None, original_value_b64=base64.b64encode(original).decode(),
            original_truncated=False, original_size=len(original),
            original_sha256=hashlib.sha256(original).hexdigest(), source_topic=names.input,
            source_partition=0, source_offset=i, failed_time=datetime.now(UTC),
            worker_id="worker-0",
        )
        producer.produce(names.dead_letter, letter.model_dump_json().encode(),
                         headers=list(letter.headers()))
    assert producer.flush(30) == 0


def test_each_client_works_with_only_its_roles_acls(kafka_secure, names, run_as):
    users = {}
    for role in ("topics", "producer", "reader", "operator", "keda"):
        users[role] = kafka_secure.user(role)
        kafka_secure.grant(role, users[role], names)  # type: ignore[arg-type]

    status, out, err = run_as(users["topics"], "topics", "create", "--partitions", "2")
    assert status == 0, err
    assert out.count("created") == 3
    assert topics_job.main(["create", "--partitions", "2"]) == 0  # the chart's topic Job

    status, out, err = run_as(users["producer"], "produce", "--generate", "--count", "20",
                              "--quiet")
    assert status == 0, err
    assert "delivered 20" in out
    produce_as(kafka_secure.admin(), names.output, (product(i) for i in range(3)))
    _dead_letters(kafka_secure.admin(), names, 2)

    status, out, err = run_as(users["reader"], "tail", "--from-beginning", "--count", "3",
                              "--timeout", "15", "--json")
    assert status == 0, err
    assert len(out.strip().splitlines()) == 3

    operator = users["operator"]
    status, out, err = run_as(operator, "status", "--json", "--interval", "0")
    assert status == 0, err
    report = json.loads(out)
    assert {t["name"] for t in report["topics"]} == {names.input, names.output,
                                                      names.dead_letter}
    assert report["lag"]["total"] == 20
    status, out, err = run_as(operator, "topics", "describe")
    assert status == 0, err
    assert "total lag 20" in out
    status, out, err = run_as(operator, "dlq", "stats", "--json")
    assert status == 0, err
    assert json.loads(out)["total"] == 2
    status, out, err = run_as(operator, "dlq", "replay", "--json")
    assert status == 0, err
    assert json.loads(out)["replayed"] == 2

    # KEDA's lag scaler asks for the group's committed offsets and the topic's end offsets
    lags = group_lag(connection_config(users["keda"]), names.group, [names.input], timeout=10)
    assert sum(lag.end for lag in lags) == 22


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sasl_password": "not-the-password"},
         ["refuse the login of user", "CATMATCH_KAFKA__SASL_PASSWORD"]),
        ({"ssl_ca_location": None},
         ["not signed by a CA this client trusts", "CATMATCH_KAFKA__SSL_CA_LOCATION"]),
        ({"bootstrap_servers": "localhost"},
         ["does not name the host localhost", "kafka.bootstrap_servers"]),
    ],
)
def test_a_refused_login_is_one_line_naming_the_setting(kafka_secure, run_as, change, expected):
    ACCESS.reset()
    user = kafka_secure.user("cli")
    if change.get("bootstrap_servers") == "localhost":
        port = kafka_secure.bootstrap.rsplit(":", 1)[1]
        change = {"bootstrap_servers": f"localhost:{port}"}
    if "sasl_password" in change:
        from pydantic import SecretStr

        change = {"sasl_password": SecretStr(change["sasl_password"])}
    status, out, err = run_as(user.model_copy(update=change), "topics", "list",
                              "--timeout", "15")
    assert status == 2
    lines = [line for line in err.splitlines() if line.startswith("catmatch: error:")]
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0]


def test_a_missing_acl_is_named(kafka_secure, names, run_as):
    kafka_secure.topics(names)
    shop = kafka_secure.user("shop")
    kafka_secure.grant("producer", shop, names)
    status, _, err = run_as(shop, "tail", "--count", "1", "--timeout", "5")
    assert status == 2
    assert f"may not describe topic {names.output}" in err
    assert "catmatch acls apply" in err
    status, _, err = run_as(shop, "produce", "--generate", "--count", "1", "--quiet",
                            "--topic", names.dead_letter)
    assert status == 2 and f"may not describe topic {names.dead_letter}" in err
