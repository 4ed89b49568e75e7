"""The secured broker (SASL_SSL, SCRAM-SHA-512, ACLs enforced) and clients on it.

One broker per session (``kafka_secure``); each test makes its own users, ACLs and topics.
``test_kafka_security_cluster.py`` runs these tests again on a secured 3-node cluster.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from tests.integration.secure_harness import (
    label_as_roles,
    produce_as,
    product,
    wait_until,
)
from transport.configuration import connection_config

pytestmark = pytest.mark.integration


def test_the_secured_broker_lets_the_super_user_in(kafka_secure, secure_names):
    admin = kafka_secure.admin()
    assert admin.security_protocol == "SASL_SSL" and admin.sasl_mechanism == "SCRAM-SHA-512"
    for node in kafka_secure.nodes:
        props = node.properties_path.read_text()
        assert "allow.everyone.if.no.acl.found=false" in props
        assert "StandardAuthorizer" in props
    assert produce_as(admin, secure_names.input, [product(1)]) == [""]


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_worker_with_only_its_role_labels_every_product(
    kafka_secure, secure_names, predictor_server, tiny_model_dir, guarantee
):
    n = 60
    results = label_as_roles(kafka_secure, secure_names, predictor_server, tiny_model_dir,
                             guarantee, n)
    assert sorted(results) == [f"p-{i:05d}" for i in range(n)]
    if guarantee == "exactly_once":
        assert set(results.values()) == {1}, results.most_common(3)


# -- refusals -----------------------------------------------------------------------------


def _errors_of(conf: dict, seconds: float = 4.0) -> set[int]:
    """The error codes a producer with ``conf`` reports while it tries to connect; empty
    when it got the cluster's metadata."""
    seen: set[int] = set()
    quiet = type("Quiet", (), {"log": lambda self, *a: None})()
    producer = Producer({**conf, "logger": quiet, "error_cb": lambda e: seen.add(e.code())})
    try:
        producer.list_topics(timeout=3)
        return set()
    except KafkaException:
        pass
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (seen - {KafkaError._ALL_BROKERS_DOWN}):
        producer.poll(0.2)
    return seen or {KafkaError._TRANSPORT}


def test_a_plaintext_client_is_refused(kafka_secure):
    seen = _errors_of({"bootstrap.servers": kafka_secure.bootstrap})
    assert KafkaError._ALL_BROKERS_DOWN in seen or KafkaError._TRANSPORT in seen


def test_another_users_password_is_refused(kafka_secure):
    alice, bob = kafka_secure.user("alice"), kafka_secure.user("bob")
    impostor = alice.model_copy(update={"sasl_password": bob.sasl_password})
    assert KafkaError._AUTHENTICATION in _errors_of(connection_config(impostor))
    assert _errors_of(connection_config(alice)) == set()  # the right one gets in


def test_a_client_that_does_not_trust_the_ca_is_refused(kafka_secure):
    admin = kafka_secure.admin().model_copy(update={"ssl_ca_location": None})
    assert KafkaError._SSL in _errors_of(connection_config(admin))


def test_a_ca_bundle_with_the_next_ca_keeps_working(kafka_secure, tmp_path):
    """During a CA rotation the clients trust the old and the new CA at once."""
    from transport.broker.security import make_ca

    next_ca, _ = make_ca(tmp_path, "the next CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(next_ca.read_text() + kafka_secure.ca_location.read_text())
    admin = kafka_secure.admin().model_copy(update={"ssl_ca_location": bundle})
    assert _errors_of(connection_config(admin)) == set()
    alone = kafka_secure.admin().model_copy(update={"ssl_ca_location": next_ca})
    assert KafkaError._SSL in _errors_of(connection_config(alone))


def test_the_producer_role_can_write_the_input_and_nothing_else(kafka_secure, secure_names):
    shop = kafka_secure.user("shop")
    kafka_secure.grant("producer", shop, secure_names)
    assert produce_as(shop, secure_names.input, [product(1)]) == [""]
    refused = produce_as(shop, secure_names.dead_letter, [product(2)])
    assert refused == ["TOPIC_AUTHORIZATION_FAILED"]
    assert produce_as(shop, secure_names.output, [product(3)]) == ["TOPIC_AUTHORIZATION_FAILED"]
    # reading the output topic: the broker hides it and serves no record of it
    produce_as(kafka_secure.admin(), secure_names.output, [product(4)])
    consumer = Consumer({**connection_config(shop), "group.id": f"r-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        described = consumer.list_topics(secure_names.output, timeout=10).topics
        error = described[secure_names.output].error
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        consumer.assign([TopicPartition(secure_names.output, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            assert msg is None or msg.error() is not None, "the producer role read the output"
    finally:
        consumer.close()


def test_catmatch_acls_user_apply_and_revoke(kafka_secure, secure_names, monkeypatch, capsys):
    from catmatch import cli

    admin, names = kafka_secure.admin(), secure_names
    env = {
        "KAFKA__BOOTSTRAP_SERVERS": admin.bootstrap_servers,
        "KAFKA__SECURITY_PROTOCOL": admin.security_protocol,
        "KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA__SASL_USERNAME": "admin",
        "KAFKA__SASL_PASSWORD": admin.sasl_password.get_secret_value(),
        "KAFKA__SSL_CA_LOCATION": str(kafka_secure.ca_location),
        "TOPICS__INPUT": names.input, "TOPICS__OUTPUT": names.output,
        "TOPICS__DEAD_LETTER": names.dead_letter, "WORKER__GROUP_ID": names.group,
        "NEW_PASSWORD": "shop-password-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(f"CATMATCH_{key}", value)
    user = f"shop-{uuid.uuid4().hex[:6]}"
    shop = kafka_secure.settings_for(user, "shop-password-1")
    assert cli.main(["acls", "user", user]) == 0
    assert cli.main(["acls", "apply", "--role", "producer", "--principal", user]) == 0
    assert "1 ACLs of role producer applied" in capsys.readouterr().out
    assert produce_as(shop, names.input, [product(1)]) == [""]
    assert produce_as(shop, names.dead_letter, [product(2)]) == ["TOPIC_AUTHORIZATION_FAILED"]
    assert cli.main(["acls", "revoke", "--role", "producer", "--principal", user]) == 0
    wait_until(lambda: produce_as(shop, names.input, [product(3)]) != [""], 20,
               "the revoked ACL to take effect")
    assert cli.main(["acls", "user", user, "--delete"]) == 0
