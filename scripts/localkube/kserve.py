"""KServe v0.20.0's controller on the node, Standard (raw Deployment) mode only.

From the module ``github.com/kserve/kserve@v0.20.0``:
- the CRDs of ``config/crd/full`` (InferenceService, ServingRuntime, ClusterServingRuntime,
  InferenceGraph, TrainedModel, ClusterStorageContainer; not the LLM and local-model ones,
  whose controllers are other binaries);
- ``charts/kserve-resources/files/kserve/resources.yaml``, the release's rendered RBAC,
  Services, manager Deployment and webhook configurations, without cert-manager's
  Certificate and without the kube-rbac-proxy sidecar (an image we do not have; it only
  guards the metrics port);
- ``config/configmap/inferenceservice.yaml``, the ``inferenceservice-config`` ConfigMap,
  with three changes for a cluster without Knative or Istio: ``deploy.defaultDeploymentMode``
  Standard (an InferenceService without the annotation would otherwise ask for Knative),
  ``ingress.disableIngressCreation`` and ``disableIstioVirtualHost`` (no ingress controller),
  and ``security.autoMountServiceAccountToken`` false (model servers do not call the API).

No ServingRuntime is installed: the chart's InferenceService names its own container
(``kserve-container``, the project's predictor image), which KServe runs as it is.
The webhook server's certificate is made with openssl and its CA patched into the
MutatingWebhookConfiguration (InferenceService defaulter, pod mutator) and the five
ValidatingWebhookConfigurations.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from localkube import gobuild, manifests, operators, svccerts, targets, upstream
from localkube.node import Node

Obj = dict[str, Any]
NAMESPACE = "kserve"
DEPLOYMENT = "kserve-controller-manager"
WEBHOOK_SERVICE = "kserve-webhook-server-service"
CERT_SECRET = "kserve-webhook-server-cert"  # noqa: S105 (a Secret's name)
CRD_FILES = (
    "config/crd/full/serving.kserve.io_inferenceservices.yaml",
    "config/crd/full/serving.kserve.io_servingruntimes.yaml",
    "config/crd/full/serving.kserve.io_clusterservingruntimes.yaml",
    "config/crd/full/serving.kserve.io_inferencegraphs.yaml",
    "config/crd/full/serving.kserve.io_trainedmodels.yaml",
    "config/crd/full/clusterstoragecontainer/serving.kserve.io_clusterstoragecontainers.yaml",
)
RESOURCES = "charts/kserve-resources/files/kserve/resources.yaml"
CONFIG = "config/configmap/inferenceservice.yaml"
# Services in front of the kube-rbac-proxy sidecar, which is not run here.
_METRICS_SERVICES = {
    "kserve-controller-manager-metrics-service",
    "kserve-controller-manager-service",
}
CHECK_NAMESPACE = "catmatch-kserve-check"


def config_map(upstream_cm: Obj) -> Obj:
    """``inferenceservice-config`` for raw Deployments without Knative, Istio or ingress."""
    cm = copy.deepcopy(upstream_cm)
    data = cm["data"]

    def update(key: str, **values: object) -> None:
        current = json.loads(data[key])
        current.update(values)
        data[key] = json.dumps(current, indent=2)

    update("deploy", defaultDeploymentMode="Standard")
    update("ingress", disableIngressCreation=True, disableIstioVirtualHost=True,
           enableGatewayApi=False)  # fmt: skip
    update("security", autoMountServiceAccountToken=False)
    return cm


def controller_objects(resources: list[Obj], image: str, ca_bundle: str) -> list[Obj]:
    """The release's objects as this node runs them (pure: the tests read it)."""
    out: list[Obj] = []
    for original in resources:
        obj = copy.deepcopy(original)
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Service" and name in _METRICS_SERVICES:
            continue
        if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            (obj["metadata"].get("annotations") or {}).pop("cert-manager.io/inject-ca-from", None)
            for hook in obj["webhooks"]:
                hook["clientConfig"]["caBundle"] = ca_bundle
        if kind == "Deployment" and name == DEPLOYMENT:
            spec = obj["spec"]["template"]["spec"]
            spec["containers"] = [c for c in spec["containers"] if c["name"] == "manager"]
            manager = spec["containers"][0]
            operators.local_image(manager, image)
            manager["command"] = ["/kserve-manager"]  # operators.operator_image's path
            operators.drop_arg(manager, "--leader-elect")  # one replica
            operators.short_probes(manager)
            manager["securityContext"]["seccompProfile"] = {"type": "RuntimeDefault"}
            # 100m throttles the first reconcile of every object on a busy 2-core node.
            manager["resources"]["limits"]["cpu"] = "500m"
        out.append(obj)
    return out


def _crd_names(crds: list[Obj]) -> list[str]:
    return [c["metadata"]["name"] for c in crds]


def install(node: Node) -> dict[str, float]:
    """CRDs, image, certificate, RBAC, config, manager; ready when its webhooks answer."""
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    root = upstream.module_dir(targets.KSERVE.module, targets.KSERVE.version)
    crds = upstream.load(node.kubectl, [root / f for f in CRD_FILES])
    operators.apply(node, [operators.namespace(NAMESPACE), *crds], "catmatch-kserve")
    operators.wait_crds(node, _crd_names(crds))
    steps["crds_s"] = round(time.monotonic() - t0, 1)

    t = time.monotonic()
    binary = gobuild.ensure(targets.KSERVE, ["kserve-manager"])["kserve-manager"]  # cached
    image = operators.operator_image("kserve-controller", binary)
    operators.load_images(node, [image])
    steps["image_s"] = round(time.monotonic() - t, 1)

    dns = svccerts.service_names([WEBHOOK_SERVICE], NAMESPACE)
    cert = svccerts.issue(node.lay.run / "operator-pki" / "kserve", "kserve-webhook", dns)
    resources = upstream.load(node.kubectl, [root / RESOURCES], skip_kinds={"Certificate"})
    (cm,) = upstream.load(node.kubectl, [root / CONFIG])
    objects = [
        cert.secret(CERT_SECRET, NAMESPACE),
        config_map(cm),
        *controller_objects(resources, image.name, cert.ca_bundle()),
    ]
    t = time.monotonic()
    operators.apply(node, objects, "catmatch-kserve")
    operators.wait_deployments(node, NAMESPACE, [DEPLOYMENT])
    steps["rollout_s"] = round(time.monotonic() - t, 1)
    # Ready pods are not yet reachable webhooks: the API server must call one end to end.
    steps["webhook_s"] = round(
        operators.wait_for("KServe's webhooks", lambda: _webhook_answers(node), 60,
                           f"kubectl -n {NAMESPACE} logs deployment/{DEPLOYMENT}"),
        1,
    )  # fmt: skip
    return steps


def uninstall(node: Node) -> None:
    """Everything :func:`install` applied, the CRDs (and so every InferenceService) too."""
    root = upstream.module_dir(targets.KSERVE.module, targets.KSERVE.version)
    crds = upstream.load(node.kubectl, [root / f for f in CRD_FILES])
    resources = upstream.load(node.kubectl, [root / RESOURCES], skip_kinds={"Certificate"})
    (cm,) = upstream.load(node.kubectl, [root / CONFIG])
    objects = [cm, *controller_objects(resources, "", ""), *crds]
    operators.delete(node, [*objects, operators.namespace(NAMESPACE)])


def probe_isvc(name: str, namespace: str, image: str) -> Obj:
    """A Standard-mode InferenceService as the chart writes one (scaled from outside), whose
    container is a Python HTTP server on 8080 run from ``image``."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"networking.kserve.io/visibility": "cluster-local"},
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                "serving.kserve.io/autoscalerClass": "external",
            },
        },
        "spec": {
            "predictor": {
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": image,
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-m", "http.server", "8080", "--directory", "/etc"],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                      "limits": {"cpu": "200m", "memory": "64Mi"}},
                        "securityContext": {**manifests.RESTRICTED_CONTAINER,
                                            "runAsUser": 65534, "runAsGroup": 65534},
                    }  # fmt: skip
                ]
            }
        },
    }


def _webhook_answers(node: Node) -> str:
    isvc = probe_isvc("webhook-probe", "default", "localhost/catmatch/none:probe")
    out = node.kubectl("create", "--dry-run=server", "-o", "name", "-f", "-",
                       stdin=json.dumps(isvc), check=False, timeout=30)  # fmt: skip
    return "" if out.returncode == 0 else (out.stderr or out.stdout).strip()[-300:]


def check(node: Node, image: str, timeout: float = 120) -> dict[str, Any]:
    """An InferenceService in Standard mode with ``autoscalerClass: external`` gets a
    Deployment and a Service ``<name>-predictor``, no HPA, and goes Ready."""
    ns, name = CHECK_NAMESPACE, "probe"
    started = time.monotonic()
    node.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", timeout=180)
    operators.apply(node, [operators.namespace(ns), probe_isvc(name, ns, image)], "catmatch-check")
    hint = (f"kubectl -n {ns} describe isvc {name}; kubectl -n {NAMESPACE} logs "
            f"deployment/{DEPLOYMENT}")  # fmt: skip
    ready_s = operators.wait_for(
        f"InferenceService {ns}/{name}", lambda: _isvc_ready(node, ns, name), timeout, hint
    )
    got = json.loads(node.kubectl("-n", ns, "get", "deployment,service,hpa", "-o", "json").stdout)
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in got["items"])
    node.kubectl("delete", "namespace", ns, "--wait=false")
    return {"ready_s": round(ready_s, 1), "objects": kinds,
            "total_s": round(time.monotonic() - started, 1)}  # fmt: skip


def _isvc_ready(node: Node, ns: str, name: str) -> str:
    out = node.kubectl("-n", ns, "get", "inferenceservice", name, "-o", "json", check=False)
    if out.returncode:
        return out.stderr.strip()[-200:]
    conditions = json.loads(out.stdout).get("status", {}).get("conditions") or []
    ready = [c for c in conditions if c["type"] == "Ready"]
    if not ready:
        return "no Ready condition yet"
    if ready[0]["status"] == "True":
        return ""
    return ready[0].get("message") or ready[0].get("reason") or "Ready is False"

