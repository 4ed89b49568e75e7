"""SCRAM users of a cluster, through the admin API (``AlterUserScramCredentials``).

The embedded secured broker's super user is made when its log dir is formatted
(:mod:`transport.broker.security`); every other user is added, rotated and removed here.
A change reaches every broker through the metadata log within a moment; open connections
keep their login until they authenticate again (``connections.max.reauth.ms``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from transport.admin import admin_client
from transport.errors import TransportError

MECHANISM = ScramMechanism.SCRAM_SHA_512
ITERATIONS = 8192


def upsert_scram_user(
    admin_conf: Mapping[str, Any], name: str, password: str, *, timeout: float = 10.0
) -> None:
    """Create user ``name`` with ``password`` (SCRAM-SHA-512), or set a new password.

    Raises:
        TransportError: the cluster refused (e.g. the caller may not alter the cluster).
    """
    change = UserScramCredentialUpsertion(
        name, ScramCredentialInfo(MECHANISM, ITERATIONS), password.encode()
    )
    _alter(admin_conf, name, change, timeout, "set the SCRAM credential of")


def delete_scram_user(admin_conf: Mapping[str, Any], name: str, *, timeout: float = 10.0) -> None:
    """Delete the SCRAM-SHA-512 credential of ``name`` (it can no longer log in).

    Raises:
        TransportError: the cluster refused, or ``name`` has no such credential.
    """
    _alter(admin_conf, name, UserScramCredentialDeletion(name, MECHANISM), timeout,
           "delete the SCRAM credential of")


def _alter(admin_conf: Mapping[str, Any], name: str, change: Any, timeout: float,
           what: str) -> None:
    admin = admin_client(admin_conf)
    futures = admin.alter_user_scram_credentials([change], request_timeout=timeout)
    try:
        futures[name].result(timeout=timeout)
    except KafkaException as exc:
        raise TransportError(f"cannot {what} {name}: {exc.args[0].str()}") from None
    except TimeoutError:
        raise TransportError(f"cannot {what} {name}: no answer within {timeout:g} s") from None
