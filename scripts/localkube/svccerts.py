"""Serving certificates for the operators' webhooks and aggregated APIs, made with openssl.

cert-manager cannot be built here (its controller's main module is not served by the Go
module proxy), so nothing in the cluster issues certificates: each operator gets a CA of its
own and one leaf certificate for the Service names the API server (webhooks, the aggregated
``external.metrics.k8s.io``) or its peers (KEDA's adapter calls the operator over gRPC with
mutual TLS) use. The CA goes into the webhook configurations' and the APIService's
``caBundle``; the leaf and its key into a Secret the pods mount. ECDSA P-256, one year; made
once per run directory and made again only when the names change.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkube.proc import Unavailable, run

DAYS = 365


@dataclass(frozen=True)
class ServingCert:
    """A CA and the leaf it signed, as files."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def crt(self) -> Path:
        return self.folder / "tls.crt"

    @property
    def key(self) -> Path:
        return self.folder / "tls.key"

    def ca_bundle(self) -> str:
        """The CA as a webhook configuration's or an APIService's ``caBundle``."""
        return base64.b64encode(self.ca.read_bytes()).decode()

    def secret(self, name: str, namespace: str) -> dict[str, Any]:
        """A ``kubernetes.io/tls`` Secret with ``tls.crt``, ``tls.key`` and ``ca.crt``."""
        data = {
            "tls.crt": self.crt.read_bytes(),
            "tls.key": self.key.read_bytes(),
            "ca.crt": self.ca.read_bytes(),
        }
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/tls",
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }


def service_names(
    services: Sequence[str], namespace: str, domain: str = "cluster.local"
) -> list[str]:
    """Every name a client may use for each Service (short, namespaced, ``.svc``, FQDN)."""
    names: list[str] = []
    for svc in services:
        names += [svc, f"{svc}.{namespace}", f"{svc}.{namespace}.svc",
                  f"{svc}.{namespace}.svc.{domain}"]  # fmt: skip
    return names


def extensions(dns: Sequence[str], *, client: bool = False) -> str:
    """The openssl x509 extension file of a leaf (pure: the tests read it)."""
    usage = "serverAuth,clientAuth" if client else "serverAuth"
    return (
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage={usage}\n"
        "subjectAltName=" + ",".join(f"DNS:{d}" for d in dns) + "\n"
    )


def issue(folder: Path, cn: str, dns: Sequence[str], *, client: bool = False) -> ServingCert:
    """A CA ``<cn>-ca`` and a leaf for ``dns`` in ``folder``; kept when already made so."""
    cert = ServingCert(folder)
    spec = {"cn": cn, "dns": list(dns), "client": client}
    done = folder / "done.json"
    try:
        if json.loads(done.read_text()) == spec and cert.key.is_file():
            return cert
    except (OSError, json.JSONDecodeError):
        pass
    openssl = shutil.which("openssl")
    if not openssl:
        raise Unavailable("openssl is needed for the operators' serving certificates")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    folder.chmod(0o700)
    ca_key = folder / "ca.key"
    for key in (ca_key, cert.key):
        run([openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        key.chmod(0o600)
    run(
        [openssl, "req", "-x509", "-new", "-key", ca_key, "-days", str(DAYS), "-subj",
         f"/CN={cn}-ca", "-out", cert.ca, "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"]
    )  # fmt: skip
    ext = folder / "leaf.ext"
    ext.write_text(extensions(dns, client=client))
    csr = run([openssl, "req", "-new", "-key", cert.key, "-subj", f"/CN={cn}"]).stdout
    run(
        [openssl, "x509", "-req", "-CA", cert.ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", str(DAYS), "-extfile", ext, "-out", cert.crt],
        input=csr,
    )  # fmt: skip
    ext.unlink()
    done.write_text(json.dumps(spec) + "\n")
    return cert
