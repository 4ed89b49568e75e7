"""Errors of the Kafka transport, reported by the CLI as one line."""

from __future__ import annotations

from core.errors import CatmatchError


class TransportError(CatmatchError):
    """A Kafka operation failed in a way the operator can act on."""


class KafkaUnreachable(TransportError):
    """No broker answered within the timeout."""


class TopicError(TransportError):
    """A topic is missing, or creating or deleting it failed."""


class BrokerError(TransportError):
    """The embedded broker cannot start: Java or Maven missing, a port in use, a held lock."""


class SecuritySettingsError(TransportError):
    """The ``kafka`` security settings contradict or miss each other."""


class KafkaAccessDenied(TransportError):
    """The cluster refused this client: a failed login, an untrusted certificate, or a
    missing ACL (the message names the cause and the setting or ACL to fix)."""
