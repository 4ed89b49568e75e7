"""The single-node cluster of ``scripts/cluster.py`` for real: up, the smoke check, the
project's worker image as a restricted pod, and a ``down`` that leaves the host as it was.

Not part of ``make test``: it needs root, changes the host (iptables, links, sysctls) while
it runs and takes a minute warm (the first ``build`` half an hour). Run it with
``make test-cluster`` or ``CATMATCH_CLUSTER=1 pytest tests/integration/test_cluster_tool_node.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

if not os.environ.get("CATMATCH_CLUSTER"):
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from localkube import images, paths, smoke  # noqa: E402
from localkube.node import Node  # noqa: E402
from localkube.render import Layout  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]
WORKER = "ghcr.io/category-match/category-match-worker:0.1.0-seed"
# What `make images` tags for the chart's node values: the CPU image (ONNX Runtime, no torch)
# with the seed model as ONNX int8; the chart passes --runtime onnx for it.
PREDICTOR = images.normalize("category-match/predictor:dev")
PREDICTOR_RUNTIME = "onnx"
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _host() -> dict[str, object]:
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout

    return {
        "links": sorted(ln.split(":")[1].strip() for ln in out("ip", "-o", "link").splitlines()),
        "netns": out("ip", "netns", "list"),
        "kube_rules": out("iptables-save").count("KUBE") + out("ip6tables-save").count("KUBE"),
        "nft_tables": out("nft", "list", "tables"),
    }


@pytest.fixture(scope="module")
def before() -> dict[str, object]:
    if os.geteuid() != 0:
        pytest.skip("the cluster needs root")
    return _host()


@pytest.fixture(scope="module")
def node(before: dict[str, object]) -> Iterator[Node]:
    node = Node(Layout(run=paths.RUN))
    try:
        node.up()
        yield node
    finally:
        node.down()


def test_up_then_a_pod_answers_on_a_service_and_resolves_the_api(node: Node) -> None:
    result = smoke.check(node)
    assert result["total_s"] < smoke.TIMEOUT_S
    assert not node.node_ready()


def _need(node: Node, image: str) -> None:
    if image not in images.containerd_images(node.lay.containerd_sock):
        pytest.skip(f"{image} is not built: make images")


def test_the_worker_image_runs_as_non_root_on_a_read_only_root(node: Node) -> None:
    _need(node, WORKER)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "worker-help", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "worker",
                    "image": WORKER,
                    "imagePullPolicy": "Never",
                    "args": ["--help"],
                    "securityContext": RESTRICTED,
                }
            ],
        },
    }
    node.kubectl("delete", "pod", "worker-help", "--ignore-not-found", "--wait=true")
    node.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    done = node.kubectl(
        "wait", "pod/worker-help", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s",
        check=False, timeout=150,
    )  # fmt: skip
    logs = node.kubectl("logs", "worker-help", check=False).stdout
    node.kubectl("delete", "pod", "worker-help", "--wait=false")
    assert done.returncode == 0, done.stderr + logs
    assert "usage: python -m worker" in logs


def test_the_predictor_image_serves_v2_through_a_service(node: Node) -> None:
    """As the chart runs it with the model baked in: uid 10001, read-only root, /tmp an
    emptyDir; inference from the host through the Service's ClusterIP (kube-proxy)."""
    _need(node, PREDICTOR)
    labels = {"app": "predictor-check"}
    container = {
        "name": "kserve-container",
        "image": PREDICTOR,
        "imagePullPolicy": "Never",
        "args": ["--model_name", "category-match", "--model-dir", "/models/category-match",
                 "--runtime", PREDICTOR_RUNTIME, "--http_port", "8080"],
        "env": [{"name": "CATMATCH_SERVE__HOST", "value": "0.0.0.0"},
                {"name": "HOME", "value": "/tmp"}, {"name": "HF_HOME", "value": "/tmp/hf"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}},
        "securityContext": RESTRICTED,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "predictor-check", "namespace": "default", "labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "predictor-check", "namespace": "default"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    node.kubectl("apply", "-f", "-", stdin=text)
    try:
        ready = node.kubectl(
            "wait", "pod/predictor-check", "--for=condition=Ready", "--timeout=300s",
            check=False, timeout=330,
        )  # fmt: skip
        assert ready.returncode == 0, node.kubectl("logs", "predictor-check", check=False).stdout
        ip = node.kubectl("get", "service", "predictor-check", "-o", "jsonpath={.spec.clusterIP}")
        texts = ["stainless steel kitchen knife", "cotton t-shirt"]
        body = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": texts}]}
        request = urllib.request.Request(
            f"http://{ip.stdout.strip()}/v2/models/category-match/infer",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        outputs = _infer(request, deadline=time.monotonic() + 30)
        assert len(outputs["label"]) == 2
    finally:
        # Waited for: a pod still terminating when the node goes down is there, Ready by its
        # old status, at the next ``up``, and a Service then routed this check to a stale
        # address (a 404 from whatever holds it now).
        node.kubectl("delete", "-f", "-", "--wait=true", "--timeout=90s", stdin=text,
                     check=False, timeout=120)  # fmt: skip


def _infer(request: urllib.request.Request, deadline: float) -> dict[str, list[object]]:
    """The pod is Ready a moment before kube-proxy has its endpoint in the Service's rules
    (until then the ClusterIP refuses connections): retry that, bounded."""
    while True:
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (a ClusterIP)
                return {o["name"]: o["data"] for o in json.load(resp)["outputs"]}
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_down_leaves_the_host_as_it_was(node: Node, before: dict[str, object]) -> None:
    node.down()
    after = _host()
    assert after == before
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(node.lay.run) not in mounts
    assert not node.running("containerd") and not node.running("kube-apiserver")
