"""KEDA v2.21.0 on the node: operator, metrics API server and admission webhooks.

From the module ``github.com/kedacore/keda/v2@v2.21.0`` (``config/``): the CRDs
(``crd/bases``: ScaledObject, ScaledJob, TriggerAuthentication, ClusterTriggerAuthentication
and the eventing CloudEventSources, which the operator also watches), RBAC, the
ServiceAccount, the three Deployments with their Services, the APIService
``v1beta1.external.metrics.k8s.io`` and the ValidatingWebhookConfiguration
``keda-admission``. Changed for this node: the local one-binary images, one replica without
leader election, short probe delays, and the operator's own certificate rotation off
(``--enable-cert-rotation=false``): the certificates are made here with openssl instead.

One certificate (``kedaorg-certs``: ``tls.crt``, ``tls.key``, ``ca.crt``), as KEDA's
rotation would make it, names the three Services and serves both ends of the operator's
gRPC metrics service (the adapter authenticates to it with the same certificate, so it
carries clientAuth too). Its CA is the APIService's and the webhooks' ``caBundle``. The API
server reaches the adapter as an aggregated API with its front-proxy client certificate
(``--requestheader-*``, ``--proxy-client-*``, ``--enable-aggregator-routing`` are set on it
by :func:`localkube.render.apiserver_args`); the adapter checks that certificate against
``kube-system/extension-apiserver-authentication``, which RBAC lets it read.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from localkube import gobuild, operators, svccerts, targets, upstream
from localkube.node import Node

Obj = dict[str, Any]
NAMESPACE = "keda"
APISERVICE = "v1beta1.external.metrics.k8s.io"
CERT_SECRET = "kedaorg-certs"  # noqa: S105 (a Secret's name)
SERVICES = ("keda-operator", "keda-metrics-apiserver", "keda-admission-webhooks")
# Deployment -> the binary it runs (built as targets.KEDA).
DEPLOYMENTS = {
    "keda-operator": "keda-operator",
    "keda-metrics-apiserver": "keda-adapter",
    "keda-admission": "keda-webhooks",
}
CONFIG_FILES = (
    "config/service_account/service_account.yaml",
    "config/rbac/role.yaml",
    "config/rbac/role_binding.yaml",
    "config/rbac/aggregate_cluster_roles.yaml",
    "config/manager/manager.yaml",
    "config/manager/service.yaml",
    "config/metrics-server/role.yaml",
    "config/metrics-server/role_binding.yaml",
    "config/metrics-server/deployment.yaml",
    "config/metrics-server/service.yaml",
    "config/metrics-server/api_service.yaml",
    "config/webhooks/webhooks.yaml",
    "config/webhooks/service.yaml",
    "config/webhooks/validation_webhooks.yaml",
)


def controller_objects(config: list[Obj], images: dict[str, str], ca_bundle: str) -> list[Obj]:
    """KEDA's objects as this node runs them (pure: the tests read it).

    ``images`` maps each Deployment to its local image, whose one binary is
    ``/<DEPLOYMENTS[name]>``.
    """
    out: list[Obj] = []
    for original in config:
        obj = copy.deepcopy(original)
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Deployment" and name in DEPLOYMENTS:
            spec = obj["spec"]["template"]["spec"]
            spec["securityContext"] = {
                **spec.get("securityContext", {}),
                "seccompProfile": {"type": "RuntimeDefault"},
            }
            (container,) = spec["containers"]
            operators.local_image(container, images[name])
            container["command"] = [f"/{DEPLOYMENTS[name]}"]
            operators.drop_arg(container, "--leader-elect")
            container["args"] = [
                "--enable-cert-rotation=false" if a.startswith("--enable-cert-rotation") else a
                for a in container.get("args", [])
            ]
            operators.short_probes(container)
        if kind == "APIService":
            obj["spec"]["caBundle"] = ca_bundle
            obj["spec"].pop("insecureSkipTLSVerify", None)
        if kind == "ValidatingWebhookConfiguration":
            for hook in obj["webhooks"]:
                hook["clientConfig"]["caBundle"] = ca_bundle
        out.append(obj)
    return out


def install(node: Node) -> dict[str, float]:
    """CRDs, images, certificate, RBAC, Deployments; ready when the APIService is
    Available (the API server reached the adapter) and the webhooks answer."""
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    root = upstream.module_dir(targets.KEDA.module, targets.KEDA.version)
    crds = upstream.load(node.kubectl, sorted((root / "config" / "crd" / "bases").glob("*.yaml")))
    operators.apply(node, [operators.namespace(NAMESPACE), *crds], "catmatch-keda")
    operators.wait_crds(node, [c["metadata"]["name"] for c in crds])
    steps["crds_s"] = round(time.monotonic() - t0, 1)

    t = time.monotonic()
    binaries = gobuild.ensure(targets.KEDA)  # cached
    archives = {d: operators.operator_image(b, binaries[b]) for d, b in DEPLOYMENTS.items()}
    operators.load_images(node, archives.values())
    steps["images_s"] = round(time.monotonic() - t, 1)

    dns = svccerts.service_names(SERVICES, NAMESPACE)
    cert = svccerts.issue(node.lay.run / "operator-pki" / "keda", "keda", dns, client=True)
    config = upstream.load(node.kubectl, [root / f for f in CONFIG_FILES])
    images = {d: a.name for d, a in archives.items()}
    objects = [cert.secret(CERT_SECRET, NAMESPACE),
               *controller_objects(config, images, cert.ca_bundle())]  # fmt: skip
    t = time.monotonic()
    operators.apply(node, objects, "catmatch-keda")
    operators.wait_deployments(node, NAMESPACE, list(DEPLOYMENTS))
    steps["rollout_s"] = round(time.monotonic() - t, 1)
    hint = f"kubectl -n {NAMESPACE} logs deployment/keda-metrics-apiserver"
    steps["apiservice_s"] = round(
        operators.wait_for(f"APIService {APISERVICE}", lambda: apiservice_available(node), 90,
                           hint),
        1,
    )  # fmt: skip
    return steps


def uninstall(node: Node) -> None:
    """Everything :func:`install` applied, the CRDs (and so every ScaledObject) too."""
    root = upstream.module_dir(targets.KEDA.module, targets.KEDA.version)
    crds = upstream.load(node.kubectl, sorted((root / "config" / "crd" / "bases").glob("*.yaml")))
    config = upstream.load(node.kubectl, [root / f for f in CONFIG_FILES])
    images = dict.fromkeys(DEPLOYMENTS, "")
    objects = [*controller_objects(config, images, ""), *crds]
    operators.delete(node, [*objects, operators.namespace(NAMESPACE)])


def apiservice_available(node: Node) -> str:
    """"" once the aggregated external metrics API answers through the API server."""
    out = node.kubectl("get", "apiservice", APISERVICE, "-o", "json", check=False, timeout=20)
    if out.returncode:
        return out.stderr.strip()[-200:]
    conditions = json.loads(out.stdout).get("status", {}).get("conditions") or []
    available = [c for c in conditions if c["type"] == "Available"]
    if not available or available[0]["status"] != "True":
        return available[0].get("message", "not Available") if available else "no condition"
    raw = node.kubectl("get", "--raw", "/apis/external.metrics.k8s.io/v1beta1", check=False,
                       timeout=20)  # fmt: skip
    return "" if raw.returncode == 0 else raw.stderr.strip()[-200:]
