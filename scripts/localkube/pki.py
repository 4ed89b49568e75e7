"""The cluster's certificates (openssl, ECDSA P-256), service-account keys and kubeconfigs.

One CA signs every serving and client certificate; a second one (front-proxy) signs the
client the API server uses towards aggregated APIs (a metrics adapter such as KEDA's).
Users are named the way Kubernetes' default RBAC expects (``system:kube-scheduler``,
``system:node:<node>`` in ``system:nodes``, ...). Made once per run directory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from localkube.proc import Unavailable, run

DAYS = 365


@dataclass(frozen=True)
class Cert:
    """A certificate to issue: file stem, subject, SANs (serving) and usage."""

    name: str
    cn: str
    org: str = ""
    sans: tuple[str, ...] = ()
    server: bool = False
    ca: str = "ca"


def certs(node: str, node_ip: str, api_service_ip: str) -> list[Cert]:
    """Every certificate the components need (pure: the tests read it)."""
    api_sans = (
        f"IP:{node_ip}",
        "IP:127.0.0.1",
        f"IP:{api_service_ip}",
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
    )
    return [
        Cert("apiserver", "kube-apiserver", sans=api_sans, server=True),
        Cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
        Cert("admin", "catmatch-admin", "system:masters"),
        Cert("controller-manager", "system:kube-controller-manager"),
        Cert("scheduler", "system:kube-scheduler"),
        Cert("kube-proxy", "system:kube-proxy"),
        Cert("kubelet-client", f"system:node:{node}", "system:nodes"),
        Cert("kubelet", node, sans=(f"IP:{node_ip}", f"DNS:{node}"), server=True),
        Cert("front-proxy-client", "front-proxy-client", ca="front-proxy-ca"),
    ]


def extensions(cert: Cert) -> str:
    """The openssl x509 extension file of ``cert``."""
    usage = "serverAuth" if cert.server else "clientAuth"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if cert.sans:
        lines.append("subjectAltName=" + ",".join(cert.sans))
    return "\n".join(lines) + "\n"


def subject(cert: Cert) -> str:
    return (f"/O={cert.org}" if cert.org else "") + f"/CN={cert.cn}"


def _openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        raise Unavailable("openssl is needed for the cluster's certificates")
    return found


def _key(openssl: str, path: Path) -> None:
    run([openssl, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path])
    path.chmod(0o600)


def _ca(openssl: str, pki: Path, name: str, cn: str) -> None:
    _key(openssl, pki / f"{name}.key")
    run(
        [openssl, "req", "-x509", "-new", "-key", pki / f"{name}.key", "-days", str(DAYS * 3),
         "-subj", f"/CN={cn}", "-out", pki / f"{name}.crt",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"]
    )  # fmt: skip


def make(pki: Path, node: str, node_ip: str, api_service_ip: str) -> None:
    """Issue everything into ``pki`` unless it is complete already."""
    wanted = certs(node, node_ip, api_service_ip)
    if (pki / "done").is_file():
        return
    openssl = _openssl()
    shutil.rmtree(pki, ignore_errors=True)
    pki.mkdir(parents=True)
    pki.chmod(0o700)
    _ca(openssl, pki, "ca", "catmatch-cluster-ca")
    _ca(openssl, pki, "front-proxy-ca", "catmatch-front-proxy-ca")
    for cert in wanted:
        key, crt, ext = (pki / f"{cert.name}.{s}" for s in ("key", "crt", "ext"))
        _key(openssl, key)
        ext.write_text(extensions(cert))
        csr = run([openssl, "req", "-new", "-key", key, "-subj", subject(cert)]).stdout
        run(
            [openssl, "x509", "-req", "-CA", pki / f"{cert.ca}.crt", "-CAkey",
             pki / f"{cert.ca}.key", "-CAcreateserial", "-days", str(DAYS), "-extfile", ext,
             "-out", crt],
            input=csr,
        )  # fmt: skip
        ext.unlink()
    # Service-account tokens: signed by the API server, verified by everyone.
    _key(openssl, pki / "sa.key")
    run([openssl, "ec", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub"])
    (pki / "done").write_text(json.dumps([c.name for c in wanted]) + "\n")


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, namespace: str = "default") -> str:
    """A kubeconfig (JSON is YAML) with one client-certificate user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "catmatch", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": "user", "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [
            {
                "name": "catmatch",
                "context": {"cluster": "catmatch", "user": "user", "namespace": namespace},
            }
        ],
        "current-context": "catmatch",
    }
    return json.dumps(config, indent=2) + "\n"
