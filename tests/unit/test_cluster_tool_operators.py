"""scripts/localkube's operators (KServe, KEDA) and the pieces they share, without a cluster:
the changes made to the upstream manifests, the certificates' names and extensions, and the
parsing of what kubectl prints."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from localkube import keda, kserve, svccerts, upstream  # noqa: E402

CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()


def _deployment(name: str, container: dict[str, Any], *more: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"template": {"spec": {"securityContext": {"runAsNonRoot": True},
                                       "containers": [container, *more]}}},
    }  # fmt: skip


def _probe() -> dict[str, Any]:
    return {"httpGet": {"path": "/healthz", "port": 8081}, "initialDelaySeconds": 30}


def test_kserve_config_is_standard_mode_without_ingress_or_tokens() -> None:
    upstream_cm = {
        "kind": "ConfigMap",
        "metadata": {"name": "inferenceservice-config"},
        "data": {
            "deploy": '{"defaultDeploymentMode": "Serverless"}',
            "ingress": '{"ingressClassName": "istio", "disableIngressCreation": false}',
            "security": '{"autoMountServiceAccountToken": true}',
            "agent": '{"image": "kserve/agent:latest"}',
        },
    }
    cm = kserve.config_map(upstream_cm)
    data = {k: json.loads(v) for k, v in cm["data"].items()}
    assert data["deploy"] == {"defaultDeploymentMode": "Standard"}
    assert data["ingress"]["disableIngressCreation"] is True
    assert data["ingress"]["disableIstioVirtualHost"] is True
    assert data["ingress"]["ingressClassName"] == "istio"  # the rest stays upstream's
    assert data["security"]["autoMountServiceAccountToken"] is False
    assert data["agent"] == {"image": "kserve/agent:latest"}
    assert json.loads(upstream_cm["data"]["deploy"])["defaultDeploymentMode"] == "Serverless"


def test_kserve_manager_runs_alone_on_the_local_image_and_webhooks_trust_our_ca() -> None:
    manager = {"name": "manager", "image": "kserve/kserve-controller:latest",
               "command": ["/manager"], "args": ["--metrics-addr=127.0.0.1:8080", "--leader-elect"],
               "livenessProbe": _probe(), "readinessProbe": _probe(),
               "resources": {"limits": {"cpu": "100m"}},
               "securityContext": {"readOnlyRootFilesystem": True}}  # fmt: skip
    proxy = {"name": "kube-rbac-proxy", "image": "quay.io/brancz/kube-rbac-proxy:v0.18.0"}
    hooks = {
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "inferenceservice.serving.kserve.io",
                     "annotations": {"cert-manager.io/inject-ca-from": "kserve/serving-cert"}},
        "webhooks": [{"name": "a", "clientConfig": {"service": {"name": "s"}}},
                     {"name": "b", "clientConfig": {"service": {"name": "s"}}}],
    }  # fmt: skip
    metrics = {"kind": "Service", "metadata": {"name": "kserve-controller-manager-metrics-service"}}
    webhook_svc = {"kind": "Service", "metadata": {"name": kserve.WEBHOOK_SERVICE}}
    resources = [_deployment(kserve.DEPLOYMENT, manager, proxy), hooks, metrics, webhook_svc]
    out = kserve.controller_objects(resources, "localhost/catmatch/kserve-controller:x", CA)
    names = [o["metadata"]["name"] for o in out]
    assert "kserve-controller-manager-metrics-service" not in names  # fronted the proxy
    assert kserve.WEBHOOK_SERVICE in names
    (container,) = out[0]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "localhost/catmatch/kserve-controller:x"
    assert container["imagePullPolicy"] == "Never"
    assert container["command"] == ["/kserve-manager"]
    assert "--leader-elect" not in container["args"]
    assert container["readinessProbe"]["initialDelaySeconds"] < 30
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {h["clientConfig"]["caBundle"] for h in out[1]["webhooks"]} == {CA}
    assert "cert-manager.io/inject-ca-from" not in out[1]["metadata"]["annotations"]
    assert len(resources[0]["spec"]["template"]["spec"]["containers"]) == 2  # input untouched


def test_keda_runs_its_binaries_without_its_own_certificate_rotation() -> None:
    operator = {"name": "keda-operator", "image": "ghcr.io/kedacore/keda:latest",
                "command": ["/keda"], "args": ["--leader-elect", "--enable-cert-rotation=true"],
                "readinessProbe": _probe()}  # fmt: skip
    adapter = {"name": "keda-metrics-apiserver", "command": ["/keda-adapter"],
               "args": ["--secure-port=6443"]}  # fmt: skip
    webhooks = {"name": "keda-admission-webhooks", "command": ["/keda-admission-webhooks"]}
    config = [
        _deployment("keda-operator", operator),
        _deployment("keda-metrics-apiserver", adapter),
        _deployment("keda-admission", webhooks),
        {"kind": "APIService", "metadata": {"name": keda.APISERVICE},
         "spec": {"service": {"name": "keda-metrics-apiserver"}}},
        {"kind": "ValidatingWebhookConfiguration", "metadata": {"name": "keda-admission"},
         "webhooks": [{"name": "vscaledobject.kb.io", "clientConfig": {"service": {}}}]},
    ]  # fmt: skip
    images = {d: f"localhost/catmatch/{b}:t" for d, b in keda.DEPLOYMENTS.items()}
    out = keda.controller_objects(config, images, CA)
    pods = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in out[:3]}
    for name, binary in keda.DEPLOYMENTS.items():
        (container,) = pods[name]["containers"]
        assert container["command"] == [f"/{binary}"]
        assert container["image"] == images[name] and container["imagePullPolicy"] == "Never"
        assert pods[name]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pods["keda-operator"]["containers"][0]["args"] == ["--enable-cert-rotation=false"]
    assert out[3]["spec"]["caBundle"] == CA
    assert out[4]["webhooks"][0]["clientConfig"]["caBundle"] == CA


def test_service_names_cover_every_way_a_client_names_the_service() -> None:
    names = svccerts.service_names(["keda-operator"], "keda")
    assert names == ["keda-operator", "keda-operator.keda", "keda-operator.keda.svc",
                     "keda-operator.keda.svc.cluster.local"]  # fmt: skip
    ext = svccerts.extensions(names, client=True)
    assert "extendedKeyUsage=serverAuth,clientAuth" in ext
    assert "subjectAltName=DNS:keda-operator,DNS:keda-operator.keda," in ext
    assert "clientAuth" not in svccerts.extensions(names)


def test_issued_certificate_names_the_services_and_chains_to_its_ca(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    dns = svccerts.service_names(["kserve-webhook-server-service"], "kserve")
    cert = svccerts.issue(tmp_path / "kserve", "kserve-webhook", dns)
    verify = subprocess.run([openssl, "verify", "-CAfile", cert.ca, cert.crt],
                            capture_output=True, text=True)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    text = subprocess.run([openssl, "x509", "-noout", "-text", "-in", cert.crt],
                          capture_output=True, text=True).stdout  # fmt: skip
    assert "DNS:kserve-webhook-server-service.kserve.svc" in text
    again = svccerts.issue(tmp_path / "kserve", "kserve-webhook", dns)
    assert again.crt.read_bytes() == cert.crt.read_bytes()  # kept, not made again
    secret = cert.secret("kserve-webhook-server-cert", "kserve")
    assert set(secret["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert base64.b64decode(cert.ca_bundle()) == cert.ca.read_bytes()


def test_upstream_documents_are_split_and_kubectl_output_decoded() -> None:
    text = ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\n---\n"
            "# a comment only\n---\napiVersion: cert-manager.io/v1\nkind: Certificate\n"
            "data:\n  x: |\n    ---not a separator\n")  # fmt: skip
    docs = upstream.documents(text)
    assert [upstream.kind_of(d) for d in docs] == ["Namespace", "Certificate"]
    printed = '{"kind": "Namespace"}\n{"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}\n'
    assert [o["kind"] for o in upstream.decode_stream(printed)] == ["Namespace", "A", "B"]


def test_the_command_line_names_the_operator_and_release_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.fixtures.tools import load_script

    cluster = load_script("cluster")
    with pytest.raises(SystemExit):
        cluster.main(["operators", "--only", "knative"])
    assert "invalid choice" in capsys.readouterr().err  # only KServe and KEDA are installed
    with pytest.raises(SystemExit) as exc:
        cluster.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("operators", "install", "uninstall"))
