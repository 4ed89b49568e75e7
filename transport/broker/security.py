"""A secured embedded broker: TLS material, SCRAM logins, the ACL authorizer (no JVM).

``catmatch broker --security sasl_ssl`` (and ``sasl_plaintext``) runs the same KRaft broker
with:

- one client listener, ``SASL_SSL`` (or ``SASL_PLAINTEXT``), that also carries the traffic
  between brokers; logins are SCRAM-SHA-512. The super user ``admin`` gets its credential
  when the log dir is formatted (``StorageTool format --add-scram``), because brokers log in
  to each other with it before they could read any credential from the metadata log; other
  users are added through the admin API (:mod:`transport.users`);
- the controller listener on SASL too, with PLAIN and a static ``admin`` entry (SCRAM cannot
  serve controllers: its credentials live in the metadata they replicate);
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: what no ACL allows is
  denied, except for ``User:admin``;
- for TLS, a CA and a broker certificate made here with ``openssl`` (PEM, read by Kafka as
  ``ssl.keystore.type=PEM``), valid for the broker's host only (so a client that connects by
  another name fails the host check, as it should);
- ``connections.max.reauth.ms``: a connection logs in again this often, so a deleted or
  changed credential takes effect on open connections too.

Everything lives in ``<data dir>/security`` (mode 0700): ``ca.crt`` (give it to clients as
``kafka.ssl_ca_location``), ``ca.key``, ``broker.pem`` (key and certificate chain),
``admin.password`` and ``admin.env`` (the settings that log in as admin).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from core.settings import KafkaSettings
from transport.errors import BrokerError

SecurityMode = Literal["sasl_plaintext", "sasl_ssl"]
MODES: tuple[SecurityMode, ...] = ("sasl_plaintext", "sasl_ssl")
ADMIN_USER = "admin"
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
CONTROLLER_LISTENER = "CONTROLLER"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
REAUTH_MS = 60_000
CA_DAYS = 3650
CERT_DAYS = 825
OPENSSL_TIMEOUT_S = 60.0
SECURITY_DIR = "security"
MODE_FILE = "mode"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def new_password() -> str:
    """A random password of URL-safe characters (nothing that needs quoting in a JAAS line
    or in ``--add-scram``'s ``[name=...,password=...]``)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a CA and the broker certificate it signed."""

    ca_cert: Path
    ca_key: Path
    keystore: Path  # the broker's private key (PKCS#8) followed by its certificate chain


@dataclass(frozen=True)
class BrokerSecurity:
    """How one broker (or every node of a cluster) is secured; see the module docstring.

    Build it with :func:`prepare_security`; an :class:`~transport.broker.EmbeddedKafka` or
    :class:`~transport.broker.EmbeddedKafkaCluster` takes it (or just the mode).
    """

    mode: SecurityMode
    directory: Path
    admin_password: str
    tls: TlsFiles | None
    reauth_ms: int = REAUTH_MS

    @property
    def protocol(self) -> Literal["SASL_PLAINTEXT", "SASL_SSL"]:
        """The client listener's security protocol (also its listener name)."""
        return "SASL_SSL" if self.mode == "sasl_ssl" else "SASL_PLAINTEXT"

    @property
    def ca_location(self) -> Path | None:
        """The CA certificate clients must trust (None without TLS)."""
        return self.tls.ca_cert if self.tls is not None else None

    @property
    def env_path(self) -> Path:
        """``admin.env``: the ``CATMATCH_KAFKA__*`` lines that log in as the super user."""
        return self.directory / "admin.env"

    def kafka_settings(
        self,
        bootstrap_servers: str,
        username: str = ADMIN_USER,
        password: str | None = None,
        **fields: object,
    ) -> KafkaSettings:
        """Client settings for ``username`` (default: the super user and its password)."""
        if password is None:
            if username != ADMIN_USER:
                raise ValueError(f"no password given for {username}")
            password = self.admin_password
        values: dict[str, object] = {
            "bootstrap_servers": bootstrap_servers,
            "security_protocol": self.protocol,
            "sasl_mechanism": SCRAM_MECHANISM,
            "sasl_username": username,
            "sasl_password": SecretStr(password),
            "ssl_ca_location": self.ca_location,
            **fields,
        }
        return KafkaSettings.model_validate(values)

    def client_config(self, bootstrap_servers: str) -> dict[str, object]:
        """The super user's librdkafka connection settings (for the broker's own checks)."""
        return dict(self.kafka_settings(bootstrap_servers).client_config())

    def server_properties(self) -> dict[str, object]:
        """``server.properties`` entries on top of :func:`config.render_server_properties`
        (whose listeners are named after :attr:`protocol` and ``CONTROLLER``)."""
        listener = self.protocol.lower()
        password = self.admin_password
        props: dict[str, object] = {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.{listener}.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                f'{_SCRAM_LOGIN} required username="{ADMIN_USER}" password="{password}";'
            ),
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                f'{_PLAIN_LOGIN} required username="{ADMIN_USER}" password="{password}" '
                f'user_{ADMIN_USER}="{password}";'
            ),
            "authorizer.class.name": AUTHORIZER,
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN_USER}",
            "connections.max.reauth.ms": self.reauth_ms,
        }
        if self.tls is not None:
            props |= {
                "ssl.keystore.type": "PEM",
                "ssl.keystore.location": str(self.tls.keystore),
                "ssl.truststore.type": "PEM",
                "ssl.truststore.location": str(self.tls.ca_cert),
                "ssl.client.auth": "none",
                "ssl.endpoint.identification.algorithm": "https",
            }
        return props

    def format_args(self) -> list[str]:
        """``StorageTool format`` arguments that create the super user's SCRAM credential."""
        return [
            "--add-scram",
            f"{SCRAM_MECHANISM}=[name={ADMIN_USER},iterations={SCRAM_ITERATIONS},"
            f"password={self.admin_password}]",
        ]


def security_dir(data_dir: Path) -> Path:
    return data_dir / SECURITY_DIR


def recorded_mode(data_dir: Path) -> str:
    """The security a data dir was formatted with: ``none`` unless recorded."""
    path = security_dir(data_dir) / MODE_FILE
    return path.read_text().strip() if path.is_file() else "none"


def check_mode(data_dir: Path, log_dir: Path, mode: str) -> None:
    """Refuse to start a formatted data dir with another security than it was made with (a
    secured one has its super user in the metadata log; a plain one has none).

    Raises:
        BrokerError: the modes differ.
    """
    if not (log_dir / "meta.properties").is_file():
        return
    recorded = recorded_mode(data_dir)
    if recorded != mode:
        raise BrokerError(
            f"{data_dir} was formatted with security {recorded}, not {mode}: start it with "
            f"--security {recorded}, or use another data dir"
        )


def record_mode(data_dir: Path, mode: str) -> None:
    directory = security_dir(data_dir)
    if mode == "none":
        if directory.is_dir():
            (directory / MODE_FILE).unlink(missing_ok=True)
        return
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / MODE_FILE).write_text(mode + "\n")


def prepare_security(
    mode: SecurityMode, directory: Path, host: str, *, reauth_ms: int = REAUTH_MS
) -> BrokerSecurity:
    """The security of a broker whose material lives in ``directory`` (made when missing,
    kept otherwise: the super user's password is in the formatted metadata, and clients
    keep trusting the same CA).

    Raises:
        BrokerError: ``openssl`` is missing or failed.
    """
    if mode not in MODES:
        raise ValueError(f"unknown security mode {mode!r} (one of {', '.join(MODES)})")
    # Absolute: openssl runs in other directories, and clients started elsewhere read the CA.
    directory = directory.absolute()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    password_file = directory / "admin.password"
    if not password_file.is_file():
        _write_private(password_file, new_password() + "\n")
    password = password_file.read_text().strip()
    tls = ensure_tls(directory, host) if mode == "sasl_ssl" else None
    security = BrokerSecurity(mode, directory, password, tls, reauth_ms)
    _write_env(security)
    return security


def _write_env(security: BrokerSecurity) -> None:
    lines = [
        f"CATMATCH_KAFKA__SECURITY_PROTOCOL={security.protocol}",
        f"CATMATCH_KAFKA__SASL_MECHANISM={SCRAM_MECHANISM}",
        f"CATMATCH_KAFKA__SASL_USERNAME={ADMIN_USER}",
        f"CATMATCH_KAFKA__SASL_PASSWORD={security.admin_password}",
    ]
    if security.ca_location is not None:
        lines.append(f"CATMATCH_KAFKA__SSL_CA_LOCATION={security.ca_location.resolve()}")
    _write_private(security.env_path, "".join(f"export {line}\n" for line in lines))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


# -- TLS material -------------------------------------------------------------------------


def ensure_tls(directory: Path, host: str) -> TlsFiles:
    """The CA and a broker certificate for ``host`` in ``directory``; made when missing."""
    files = TlsFiles(directory / "ca.crt", directory / "ca.key", directory / "broker.pem")
    if not (files.ca_cert.is_file() and files.ca_key.is_file()):
        make_ca(directory, "category-match dev CA")
    if not files.keystore.is_file():
        make_certificate(files.ca_cert, files.ca_key, directory, "broker", [host])
    return files


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError("openssl is not installed: it makes the broker's TLS certificates")
    try:
        proc = subprocess.run(
            [openssl, *args], cwd=cwd, capture_output=True, text=True,
            timeout=OPENSSL_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"openssl {args[0]} took over {OPENSSL_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise BrokerError(f"openssl {args[0]} failed: {lines[-1] if lines else proc.returncode}")


def make_ca(directory: Path, name: str, prefix: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA: ``<prefix>.crt`` and ``<prefix>.key`` (mode 0600) in ``directory``."""
    directory = directory.absolute()  # openssl runs in it: relative names would double
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{prefix}.crt", directory / f"{prefix}.key"
    _openssl(
        "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", str(key), "-out", str(cert), "-days", str(CA_DAYS), "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    os.chmod(key, 0o600)
    return cert, key


def make_certificate(
    ca_cert: Path, ca_key: Path, directory: Path, name: str, hosts: list[str]
) -> Path:
    """A certificate for ``hosts`` (IP addresses or DNS names) signed by the CA, written as
    ``<name>.pem``: the PKCS#8 private key, the certificate and the CA's (mode 0600)."""
    alt_names = ",".join(f"{'IP' if _is_ip(h) else 'DNS'}:{h}" for h in hosts)
    # openssl runs in a temporary directory: relative names would point elsewhere
    ca_cert, ca_key, directory = ca_cert.absolute(), ca_key.absolute(), directory.absolute()
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        work = Path(tmp)
        (work / "ext.cnf").write_text(
            f"subjectAltName={alt_names}\n"
            "basicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth,clientAuth\n"
        )
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem",
                 "-out", "req.csr", "-subj", f"/CN={hosts[0]}", cwd=work)
        _openssl("x509", "-req", "-in", "req.csr", "-CA", str(ca_cert), "-CAkey", str(ca_key),
                 "-set_serial", str(secrets.randbits(63)), "-sha256", "-days", str(CERT_DAYS),
                 "-extfile", "ext.cnf", "-out", "cert.pem", cwd=work)
        pem = directory / f"{name}.pem"
        _write_private(
            pem,
            (work / "key.pem").read_text() + (work / "cert.pem").read_text()
            + ca_cert.read_text(),
        )
    return pem


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def listener_overrides(security: BrokerSecurity | None) -> Mapping[str, object]:
    """The security part of ``server.properties`` (nothing for a plain broker)."""
    return security.server_properties() if security is not None else {}
