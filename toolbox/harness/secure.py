"""Users and ACLs on a secured embedded broker, for the demo, drills and benchmarks.

:func:`role_user` makes a SCRAM user with a random password and the ACLs of the given roles
(:mod:`transport.acls`); :func:`kafka_env` turns ``kafka`` settings into the
``CATMATCH_KAFKA__*`` variables of a child process (the workers).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from core.settings import ENV_PREFIX, KafkaSettings
from transport.acls import PipelineNames, Role, apply_grants, principal_of, role_grants
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster
from transport.users import upsert_scram_user


def role_user(
    kafka: EmbeddedKafka | EmbeddedKafkaCluster, name: str, roles: Sequence[Role],
    names: PipelineNames,
) -> KafkaSettings:
    """``kafka`` settings of a new user ``name`` holding the ACLs of ``roles``; on a broker
    without security, the plain settings (everyone may do everything there)."""
    if kafka.security is None:
        return kafka.kafka_settings()
    password = secrets.token_urlsafe(18)
    admin = kafka.client_config()
    upsert_scram_user(admin, name, password)
    for role in roles:
        apply_grants(admin, role_grants(role, names), principal_of(name))
    return kafka.kafka_settings(name, password)


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """The ``CATMATCH_KAFKA__*`` environment that gives a child process ``kafka``."""
    env = {
        "BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SECURITY_PROTOCOL": kafka.security_protocol,
        "SASL_MECHANISM": kafka.sasl_mechanism,
        "SASL_USERNAME": kafka.sasl_username,
        "SASL_PASSWORD": kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        "SSL_CA_LOCATION": str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None,
    }
    return {f"{ENV_PREFIX}KAFKA__{k}": v for k, v in env.items() if v is not None}
