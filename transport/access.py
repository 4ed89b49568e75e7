"""Why the cluster refuses a client, said once, in words that name the fix.

:func:`classify` turns a librdkafka error into a :class:`Denial` when it is a refusal: a
login the broker rejects (a wrong password, a user that does not exist or was deleted), a
broker certificate this client does not trust or that names another host, or a missing ACL
(topic, group, transactional id, cluster). librdkafka says only "certificate verify failed"
for both certificate cases; :func:`diagnose_tls` repeats the handshake with Python's ``ssl``
to tell an untrusted CA from a host mismatch or an expired certificate.

:data:`ACCESS` is the process's record of the refusals in force (like
:data:`transport.logs.CONNECTION` for reachability). The first refusal of a kind logs one
error line with the cause and the setting or ACL to fix; while it lasts a summary follows
every ``SUMMARY_EVERY_S``; when whatever it blocked works again one line says so. The
worker counts every refusal (``catmatch_worker_kafka_auth_errors_total{kind}``) and is not
ready while one is in force. Nothing here retries or drops anything: refused records are
produced again and refused offsets committed again by their owners, unchanged.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError

log = logging.getLogger("transport.kafka.access")

SUMMARY_EVERY_S = 30.0
TLS_PROBE_TIMEOUT_S = 3.0
LOGIN = "login"  # the scope of refusals that keep the client off every broker
KINDS = (
    "authentication", "tls_untrusted", "tls_hostname", "tls_expired", "tls",
    "topic_authorization", "group_authorization", "transactional_id_authorization",
    "cluster_authorization",
)
AUTHORIZATION_CODES = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
})
LOGIN_CODES = frozenset({
    KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL,
})
_LOGIN_FIX = (
    "fix kafka.sasl_username / kafka.sasl_password (CATMATCH_KAFKA__SASL_USERNAME, "
    "CATMATCH_KAFKA__SASL_PASSWORD), or the user's credential on the cluster "
    "(catmatch acls user, or its KafkaUser)"
)
_CA_FIX = (
    "set kafka.ssl_ca_location (CATMATCH_KAFKA__SSL_CA_LOCATION) to the PEM of the CA that "
    "signed the brokers' certificates"
)


@dataclass(frozen=True)
class Denial:
    """One refusal: ``kind`` (a metric label), ``scope`` (what it blocks: :data:`LOGIN`,
    ``topic:<name>``, ``group:<name>``, ``transactional_id:<id>``, ``cluster``) and one
    line saying the cause and the fix."""

    kind: str
    scope: str
    message: str


def is_refusal(err: KafkaError | None) -> bool:
    return err is not None and (err.code() in LOGIN_CODES or err.code() in AUTHORIZATION_CODES)


def classify(
    err: KafkaError,
    conf: Mapping[str, Any],
    *,
    topic: str | None = None,
    operation: str = "use",
    role: str | None = None,
) -> Denial | None:
    """The :class:`Denial` that ``err`` means for a client built from ``conf``, or None.

    Args:
        topic: the topic involved (a produced or consumed record's), when known.
        operation: what the client tried (``write``, ``read``...), for the message.
        role: the client's role in :mod:`transport.acls`, for the hint of what to apply.
    """
    code = err.code()
    user = str(conf.get("sasl.username") or "ANONYMOUS")
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        mechanism = conf.get("sasl.mechanism", "SASL")
        return Denial(
            "authentication", LOGIN,
            f"the brokers refuse the login of user {user} ({mechanism}): a wrong password, "
            f"or no such user (never created, deleted or expired); {_LOGIN_FIX}",
        )
    if code == KafkaError._SSL:
        return _tls_denial(err, conf)
    if code not in AUTHORIZATION_CODES:
        return None
    acls = (f"catmatch acls apply --role {role} --principal User:{user}" if role
            else f"catmatch acls apply --role <role> --principal User:{user}")
    fix = f"grant the ACL ({acls}, or the role's KafkaUser)"
    if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
        name = topic or "?"
        return Denial("topic_authorization", f"topic:{name}",
                      f"user {user} may not {operation} topic {name}: {fix}")
    if code == KafkaError.GROUP_AUTHORIZATION_FAILED:
        group = conf.get("group.id", "?")
        return Denial("group_authorization", f"group:{group}",
                      f"user {user} may not use consumer group {group}: {fix}")
    if code == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        tid = conf.get("transactional.id", "?")
        return Denial("transactional_id_authorization", f"transactional_id:{tid}",
                      f"user {user} may not use transactional id {tid}: {fix}")
    return Denial("cluster_authorization", "cluster",
                  f"user {user} may not {operation} the cluster: {fix}")


def _tls_denial(err: KafkaError, conf: Mapping[str, Any]) -> Denial:
    text = err.str()
    if "certificate verify failed" not in text:
        return Denial("tls", LOGIN, f"the TLS handshake with the brokers fails ({_detail(text)}): "
                      "check kafka.security_protocol against the listener and the "
                      "kafka.ssl_* settings")
    kind, why = diagnose_tls(conf)
    if kind == "tls_hostname":
        fix = ("connect by a name the certificate holds (kafka.bootstrap_servers, and the "
               "brokers' advertised listeners), or have the certificate reissued")
    elif kind == "tls_expired":
        fix = "the brokers need a renewed certificate"
    else:
        fix = _CA_FIX
    return Denial(kind, LOGIN, f"the brokers' certificate is not accepted: {why}; {fix}")


def _detail(text: str) -> str:
    return text.split(": ", 1)[-1].split(" (after ", 1)[0]


_DIAGNOSES: dict[tuple[str, str, bool], tuple[float, tuple[str, str]]] = {}
_DIAGNOSES_LOCK = threading.Lock()


def diagnose_tls(conf: Mapping[str, Any]) -> tuple[str, str]:
    """``(kind, why)`` of a failed certificate check, found by repeating the handshake with
    Python's ``ssl`` (cached for ``SUMMARY_EVERY_S`` per address and CA file)."""
    first = str(conf.get("bootstrap.servers", "")).split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]")
    cafile = conf.get("ssl.ca.location")
    check_host = conf.get("ssl.endpoint.identification.algorithm", "https") != "none"
    key = (first, str(cafile), check_host)
    now = time.monotonic()
    with _DIAGNOSES_LOCK:
        cached = _DIAGNOSES.get(key)
        if cached is not None and now - cached[0] < SUMMARY_EVERY_S:
            return cached[1]
    result = _probe(host, int(port or 9093), str(cafile) if cafile else None, check_host)
    with _DIAGNOSES_LOCK:
        _DIAGNOSES[key] = (now, result)
    return result


def _probe(host: str, port: int, cafile: str | None, check_host: bool) -> tuple[str, str]:
    untrusted = ("tls_untrusted",
                 f"it is not signed by a CA this client trusts ({cafile or 'the system store'})")
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        return "tls_untrusted", f"the CA file {cafile} cannot be read ({exc})"
    context.check_hostname = check_host
    try:
        with socket.create_connection((host, port), timeout=TLS_PROBE_TIMEOUT_S) as sock, \
                context.wrap_socket(sock, server_hostname=host):
            pass
    except ssl.SSLCertVerificationError as exc:
        code = getattr(exc, "verify_code", None)
        if code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return "tls_hostname", f"it does not name the host {host} that this client connects to"
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return "tls_expired", "it has expired"
        return untrusted
    except (OSError, ssl.SSLError):
        return untrusted  # the probe could not tell more than librdkafka did
    return "tls", "librdkafka rejects it although Python's TLS accepts it"


# -- the process's record -----------------------------------------------------------------


@dataclass
class _InForce:
    denial: Denial
    since: float
    count: int
    summarised: float
    last: float
    announced: bool  # its first line went out at ERROR (not only quietly)


class AccessState:
    """The refusals in force, by scope and kind. Thread-safe; one per process (:data:`ACCESS`).

    ``on_denied(denial)`` is called for every refusal (the worker counts them),
    ``on_change(blocked)`` when the first one starts or the last one ends.
    """

    def __init__(self, summary_every_s: float = SUMMARY_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._summary_every_s = summary_every_s
        self._in_force: dict[tuple[str, str], _InForce] = {}
        self.on_denied: Callable[[Denial], None] | None = None
        self.on_change: Callable[[bool], None] | None = None

    def denied(self, denial: Denial, *, quiet: bool = False) -> None:
        """A refusal happened (again). ``quiet``: recorded, logged at DEBUG only (for
        short-lived clients whose caller reports the failure itself)."""
        now = time.monotonic()
        key = (denial.scope, denial.kind)
        with self._lock:
            entry = self._in_force.get(key)
            was_blocked = bool(self._in_force)
            first: tuple[str, tuple[object, ...]] = (
                "Kafka refuses this client: %s (repeats are summarised every %.0f s)",
                (denial.message, self._summary_every_s),
            )
            line: tuple[str, tuple[object, ...]] | None = None
            if entry is None:
                self._in_force[key] = _InForce(denial, now, 1, now, now, not quiet)
                line = first
            else:
                entry.count += 1
                entry.last = now
                if not quiet and not entry.announced:  # seen quietly before: say it now
                    entry.announced, entry.summarised, line = True, now, first
                elif now - entry.summarised >= self._summary_every_s:
                    entry.summarised = now
                    line = ("Kafka still refuses this client after %.0f s (%d times): %s",
                            (now - entry.since, entry.count, denial.message))
        if line is not None:
            level = logging.ERROR if line is first else logging.WARNING
            log.log(logging.DEBUG if quiet else level, line[0], *line[1])
        if self.on_denied is not None:
            self.on_denied(denial)
        if not was_blocked and self.on_change is not None:
            self.on_change(True)

    def cleared(self, *scopes: str) -> None:
        """What ``scopes`` name works again (``topic:x``; ``group:`` for every group)."""
        if not self._in_force:  # the common case, without the lock
            return
        now = time.monotonic()
        with self._lock:
            gone = [k for k in self._in_force if any(_matches(k[0], s) for s in scopes)]
            ended = [self._in_force.pop(k) for k in gone]
            unblocked = bool(ended) and not self._in_force
        for entry in ended:
            log.warning("Kafka accepts this client again after %.0f s (%d refusals): %s",
                        now - entry.since, entry.count, entry.denial.kind)
        if unblocked and self.on_change is not None:
            self.on_change(False)

    @property
    def blocked(self) -> bool:
        return bool(self._in_force)

    def denials(self) -> list[Denial]:
        """The refusals in force, oldest first."""
        with self._lock:
            entries = sorted(self._in_force.values(), key=lambda e: e.since)
        return [e.denial for e in entries]

    def login_denial(self, since: float = 0.0) -> Denial | None:
        """The refusal that keeps this client off every broker, if any (and seen at or after
        ``since``, a ``time.monotonic()`` value: a caller asks about its own attempt)."""
        with self._lock:
            for (scope, _), entry in self._in_force.items():
                if scope == LOGIN and entry.last >= since:
                    return entry.denial
        return None

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._in_force.clear()


def _matches(scope: str, wanted: str) -> bool:
    return scope == wanted or (wanted.endswith(":") and scope.startswith(wanted))


ACCESS = AccessState()
