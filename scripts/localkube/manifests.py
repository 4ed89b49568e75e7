"""Objects applied to the cluster: CoreDNS, and the smoke check's server and client pods."""

from __future__ import annotations

import json
from typing import Any

from localkube.render import Layout

DNS_PORT = 1053  # inside the pod: no NET_BIND_SERVICE needed; the Service maps 53 to it
SMOKE_NAMESPACE = "catmatch-smoke"

COREFILE = """.:{port} {{
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    cache 30
    reload
}}
"""  # no `forward`: names outside the cluster are not resolved, nothing leaves the machine

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def as_list(items: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1) + "\n"


def coredns(lay: Layout, image: str) -> list[dict[str, Any]]:
    """CoreDNS as the cluster's DNS (kube-dns Service at ``lay.dns_ip``), RBAC as upstream."""
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    meta = {"name": "coredns", "namespace": ns, "labels": labels}
    container = {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": DNS_PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": {**RESTRICTED_CONTAINER, "runAsUser": 65532, "runAsGroup": 65532},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                 "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                 "verbs": ["list", "watch"]},
            ],  # fmt: skip
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"Corefile": COREFILE.format(port=DNS_PORT)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "priorityClassName": "system-cluster-critical",
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": ns, "labels": labels},
            "spec": {
                "clusterIP": lay.dns_ip,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": DNS_PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": DNS_PORT, "protocol": "TCP"},
                ],
            },
        },
    ]


SMOKE_CLIENT = """
import socket, sys, time, urllib.request
ns, want = sys.argv[1], sys.argv[2]
name, url = "kubernetes.default.svc.cluster.local", f"http://smoke.{ns}.svc.cluster.local/"
deadline = time.monotonic() + 60
while True:
    try:
        api = socket.gethostbyname(name)
        with urllib.request.urlopen(url, timeout=5) as resp:
            status = resp.status
        break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"failed: {exc}")
        time.sleep(1)
print(f"{name} -> {api}; {url} -> HTTP {status}")
sys.exit(0 if status == 200 and api == want else 1)
"""


def smoke(image: str, api_service_ip: str) -> list[dict[str, Any]]:
    """A Python http.server behind a Service, and a pod that resolves and calls it."""
    ns = SMOKE_NAMESPACE
    labels = {"app": "smoke"}
    security = {**RESTRICTED_CONTAINER, "runAsUser": 65534, "runAsGroup": 65534}
    server = {
        "name": "http",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-m", "http.server", "8080", "--directory", "/etc"],
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
        "securityContext": security,
    }
    client = {
        "name": "client",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", SMOKE_CLIENT, ns, api_service_ip],
        "securityContext": security,
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "smoke-server", "namespace": ns, "labels": labels},
            "spec": {"containers": [server], "automountServiceAccountToken": False},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "smoke", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "smoke-client", "namespace": ns},
            "spec": {
                "restartPolicy": "Never",
                "containers": [client],
                "automountServiceAccountToken": False,
            },
        },
    ]
