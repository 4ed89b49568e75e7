"""transport.access: refusals classified with their fix, said once, summarised, cleared."""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError

from transport import access
from transport.access import LOGIN, AccessState, classify, is_refusal

CONF = {"sasl.username": "svc", "sasl.mechanism": "SCRAM-SHA-512", "group.id": "g",
        "transactional.id": "g-worker-0", "bootstrap.servers": "127.0.0.1:1"}


def test_a_refused_login_names_the_user_and_the_settings() -> None:
    denial = classify(KafkaError(KafkaError._AUTHENTICATION), CONF)
    assert denial is not None and (denial.kind, denial.scope) == ("authentication", LOGIN)
    assert "user svc (SCRAM-SHA-512)" in denial.message
    assert "CATMATCH_KAFKA__SASL_PASSWORD" in denial.message


@pytest.mark.parametrize(("code", "kind", "scope", "words"), [
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, "topic_authorization", "topic:out",
     "user svc may not write topic out"),
    (KafkaError.GROUP_AUTHORIZATION_FAILED, "group_authorization", "group:g",
     "consumer group g"),
    (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactional_id_authorization",
     "transactional_id:g-worker-0", "transactional id g-worker-0"),
])
def test_a_missing_acl_names_the_resource_and_the_role(code, kind, scope, words) -> None:
    denial = classify(KafkaError(code), CONF, topic="out", operation="write", role="worker")
    assert denial is not None and (denial.kind, denial.scope) == (kind, scope)
    assert words in denial.message
    assert "catmatch acls apply --role worker --principal User:svc" in denial.message


def test_certificate_failures_are_told_apart(monkeypatch) -> None:
    err = KafkaError(KafkaError._SSL, "sasl_ssl://h:1/bootstrap: SSL handshake failed: "
                     "certificate verify failed: broker certificate could not be verified")
    monkeypatch.setattr(access, "_probe", lambda *a: ("tls_hostname", "it does not name h"))
    access._DIAGNOSES.clear()
    denial = classify(err, CONF)
    assert denial is not None and denial.kind == "tls_hostname"
    access._DIAGNOSES.clear()
    monkeypatch.setattr(access, "_probe", lambda *a: ("tls_untrusted", "not signed"))
    denial = classify(err, CONF)
    assert denial is not None and "CATMATCH_KAFKA__SSL_CA_LOCATION" in denial.message
    access._DIAGNOSES.clear()


def test_other_errors_are_not_refusals() -> None:
    for code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._MSG_TIMED_OUT):
        assert not is_refusal(KafkaError(code))
        assert classify(KafkaError(code), CONF) is None


def test_once_then_a_summary_then_cleared(caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG, logger="transport.kafka.access")
    clock = [100.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: clock[0])
    state = AccessState(summary_every_s=30)
    counted, changes = [], []
    state.on_denied, state.on_change = counted.append, changes.append
    denial = classify(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), CONF, topic="dlq")
    assert denial is not None
    for _ in range(50):
        state.denied(denial)
        clock[0] += 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(errors) == 1 and len(warnings) == 1  # the first line, one summary at 30 s
    assert len(counted) == 50 and changes == [True]
    assert state.blocked and state.login_denial() is None
    state.cleared("topic:other")
    assert state.blocked
    state.cleared("topic:")
    assert not state.blocked and changes == [True, False]
    assert "accepts this client again" in caplog.records[-1].getMessage()


def test_a_quiet_refusal_is_still_announced_by_the_first_loud_one(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="transport.kafka.access")
    state = AccessState()
    denial = classify(KafkaError(KafkaError._AUTHENTICATION), CONF)
    assert denial is not None
    state.denied(denial, quiet=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    state.denied(denial)
    state.denied(denial)
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert state.login_denial() == denial
