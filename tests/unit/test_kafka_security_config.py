"""Security settings, the secured broker's properties and format arguments (no JVM)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import KafkaSettings, load_settings
from transport.broker import config
from transport.broker.security import (
    BrokerSecurity,
    TlsFiles,
    check_mode,
    prepare_security,
    record_mode,
)
from transport.broker.server import EmbeddedKafka
from transport.configuration import admin_config, consumer_config, security_problem
from transport.errors import BrokerError, SecuritySettingsError


def _props(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _scram(**fields: object) -> KafkaSettings:
    values: dict[str, object] = {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "worker", "sasl_password": SecretStr("pw"),
    }
    return KafkaSettings.model_validate({**values, **fields})


def test_sasl_ssl_settings_become_librdkafka_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    conf = admin_config(_scram(ssl_ca_location=ca))
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("worker", "pw")
    assert conf["ssl.ca.location"] == str(ca)
    assert conf["ssl.endpoint.identification.algorithm"] == "https"
    off = admin_config(_scram(ssl_endpoint_identification=False))
    assert off["ssl.endpoint.identification.algorithm"] == "none"
    assert "ssl.ca.location" not in admin_config(KafkaSettings())


def test_security_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    for key, value in {
        "SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "SCRAM-SHA-512",
        "SASL_USERNAME": "w", "SASL_PASSWORD": "s3cret", "SSL_CA_LOCATION": str(ca),
    }.items():
        monkeypatch.setenv(f"CATMATCH_KAFKA__{key}", value)
    settings = load_settings()
    assert "s3cret" not in repr(settings)
    conf = consumer_config(settings)
    assert conf["sasl.password"] == "s3cret" and conf["ssl.ca.location"] == str(ca)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sasl_mechanism": None}, "CATMATCH_KAFKA__SASL_MECHANISM"),
        ({"sasl_password": None}, "CATMATCH_KAFKA__SASL_PASSWORD"),
        ({"sasl_username": None}, "CATMATCH_KAFKA__SASL_USERNAME"),
        ({"security_protocol": "PLAINTEXT"}, "would never be sent"),
        ({"ssl_ca_location": Path("/nonexistent/ca.crt")}, "no file at /nonexistent/ca.crt"),
        ({"security_protocol": "SASL_PLAINTEXT", "ssl_ca_location": Path("/etc/hostname")},
         "does not use TLS"),
    ],
)
def test_contradicting_security_settings_are_named(fields: dict, message: str) -> None:
    kafka = _scram(**fields)
    problem = security_problem(kafka)
    assert problem is not None and message in problem
    with pytest.raises(SecuritySettingsError, match=message.split("(")[0][:20]):
        admin_config(kafka)


def test_plain_and_extra_config_need_no_fields() -> None:
    assert security_problem(KafkaSettings()) is None
    oauth = KafkaSettings(security_protocol="SASL_SSL",
                          config={"sasl.mechanism": "OAUTHBEARER"})
    assert security_problem(oauth) is None


def _security(tmp_path: Path, mode: str = "sasl_ssl") -> BrokerSecurity:
    tls = TlsFiles(tmp_path / "ca.crt", tmp_path / "ca.key", tmp_path / "broker.pem")
    return BrokerSecurity(mode, tmp_path, "secret-pw",  # type: ignore[arg-type]
                          tls if mode == "sasl_ssl" else None)


def test_secured_broker_properties(tmp_path: Path) -> None:
    security = _security(tmp_path)
    props = _props(config.render_server_properties(
        host="127.0.0.1", port=1, controller_port=2, log_dir=tmp_path, num_partitions=1,
        protocol=security.protocol, overrides=security.server_properties(),
    ))
    assert props["listeners"] == "SASL_SSL://127.0.0.1:1,CONTROLLER://127.0.0.1:2"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:1"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin"
    assert props["ssl.keystore.type"] == "PEM" and props["ssl.truststore.type"] == "PEM"
    assert 'username="admin" password="secret-pw"' in (
        props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"])
    assert "PLAINTEXT:" not in props["listener.security.protocol.map"]


def test_sasl_plaintext_has_no_tls(tmp_path: Path) -> None:
    props = _security(tmp_path, "sasl_plaintext").server_properties()
    assert not any(key.startswith("ssl.") for key in props)
    assert "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config" in props


def test_format_adds_the_super_users_scram_credential(tmp_path: Path) -> None:
    kafka = EmbeddedKafka(data_dir=tmp_path, security=_security(tmp_path))
    kafka.security = _security(tmp_path)
    kafka.cluster_id = "abc"
    args = kafka.format_args()
    at = args.index("--add-scram")
    assert args[at + 1].startswith("SCRAM-SHA-512=[name=admin,")
    assert "password=secret-pw]" in args[at + 1]


def test_tls_material_is_made_once_and_private(tmp_path: Path) -> None:
    directory = tmp_path / "security"
    first = prepare_security("sasl_ssl", directory, "127.0.0.1")
    assert first.tls is not None
    assert first.tls.keystore.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (directory.stat().st_mode & 0o777) == 0o700
    assert (first.tls.keystore.stat().st_mode & 0o777) == 0o600
    env = first.env_path.read_text()
    assert "CATMATCH_KAFKA__SASL_PASSWORD=" in env and "CATMATCH_KAFKA__SSL_CA_LOCATION=" in env
    again = prepare_security("sasl_ssl", directory, "127.0.0.1")
    assert again.admin_password == first.admin_password
    assert again.tls is not None
    assert again.tls.ca_cert.read_bytes() == first.tls.ca_cert.read_bytes()


def test_tls_material_in_a_relative_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``catmatch drill run --work-dir var/drills`` and ``catmatch broker --data-dir d``:
    openssl runs in other directories, so a relative path must not reach it as such."""
    monkeypatch.chdir(tmp_path)
    security = prepare_security("sasl_ssl", Path("var/drills/kafka/security"), "127.0.0.1")
    assert security.tls is not None and security.ca_location is not None
    assert security.ca_location.is_absolute()
    assert security.ca_location == tmp_path / "var/drills/kafka/security/ca.crt"
    assert "-----BEGIN CERTIFICATE-----" in security.tls.keystore.read_text()


def test_a_data_dir_keeps_its_security(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    check_mode(tmp_path, log_dir, "sasl_ssl")  # not formatted yet: anything goes
    (log_dir / "meta.properties").write_text("cluster.id=x\n")
    record_mode(tmp_path, "sasl_ssl")
    check_mode(tmp_path, log_dir, "sasl_ssl")
    with pytest.raises(BrokerError, match="formatted with security sasl_ssl, not none"):
        check_mode(tmp_path, log_dir, "none")
