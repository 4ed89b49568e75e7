"""The chart on the real node: products go in from outside the pods and come out labelled.

Installed by the session fixtures (tests/cluster/conftest.py): KServe's controller, KEDA,
the dev Kafka and the chart with ``ci/node-values.yaml`` in namespace ``category-match``
(Pod Security ``restricted`` enforced). Then, in order: the release is what the values say,
the pods are restricted, 2,000 products are each labelled exactly once (read_committed, from
this machine), the predictor goes to zero after KEDA's cooldown, and comes back for the first
waiting product. Needs root and ``CATMATCH_CLUSTER=1`` (``make test-cluster``).
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest

from tests.cluster.conftest import REPO, enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube import release  # noqa: E402
from localkube.node import Node  # noqa: E402
from localkube.operators import RESTRICTED  # noqa: E402

from tests.cluster.flows import (  # noqa: E402
    NS,
    PREDICTOR,
    WORKERS,
    Command,
    finish,
    get,
    predictor_replicas,
    roundtrip_argv,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
PRODUCTS = 2000
SEEN: dict[str, float] = {}  # what one test leaves for the next (the last label's time)


def scaled_object(node: Node) -> dict[str, Any]:
    return dict(get(node, "scaledobject", PREDICTOR)["spec"])


def test_the_release_is_what_the_node_values_say(node: Node, installed: dict[str, float]) -> None:
    job = get(node, "job", f"{release.RELEASE}-topics")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["status"].get("succeeded") == 1, "the topic Job did not complete"
    isvc = get(node, "inferenceservice", release.RELEASE)
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    service = get(node, "service", PREDICTOR)  # KServe's, in front of its Deployment
    assert service["spec"]["ports"][0]["port"] == 80
    hpas = [h["metadata"]["name"] for h in get(node, "hpa")["items"]]
    assert sorted(hpas) == [f"keda-hpa-{PREDICTOR}", f"keda-hpa-{WORKERS}"]  # none of KServe's
    sts = get(node, "statefulset", WORKERS)
    config = get(node, "configmap", WORKERS)["data"]["config.yaml"]
    assert "processing_guarantee: exactly_once" in config
    assert sts["status"].get("readyReplicas", 0) >= 1


def test_pods_run_restricted_non_root_on_read_only_roots(
    node: Node, installed: dict[str, float]
) -> None:
    labels = json.loads(node.kubectl("get", "namespace", NS, "-o", "json").stdout)
    assert labels["metadata"]["labels"].items() >= RESTRICTED.items()
    privileged = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": NS},
                  "spec": {"containers": [{"name": "c", "image": "x",
                                           "securityContext": {"privileged": True}}]}}  # fmt: skip
    refused = node.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(privileged),
                           check=False)  # fmt: skip
    assert refused.returncode != 0 and "PodSecurity" in refused.stderr, refused.stderr
    pods = [p for p in get(node, "pods")["items"] if p["status"].get("phase") == "Running"]
    assert {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods} >= {"worker"}
    for pod in pods:
        name = pod["metadata"]["name"]
        for container in pod["spec"]["containers"]:
            security = {**pod["spec"].get("securityContext", {}),
                        **container.get("securityContext", {})}  # fmt: skip
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security.get("runAsUser", 0) != 0, name
            probe = "import os; print(os.getuid()); open('/probe', 'w')"
            shell = ["sh", "-c", "id -u; touch /probe"] if name.startswith("kafka") else [
                "python", "-c", probe]  # fmt: skip
            out = node.kubectl("-n", NS, "exec", name, "-c", container["name"], "--", *shell,
                               check=False)  # fmt: skip
            uid = out.stdout.strip().splitlines()[0]
            assert uid.isdigit() and int(uid) != 0, (name, out.stdout, out.stderr)
            assert out.returncode != 0 and "Read-only file system" in out.stderr, (name, out)


def test_2000_products_are_each_labelled_exactly_once(
    node: Node, installed: dict[str, float], kafka_command: Command
) -> None:
    started = time.time()
    argv = kafka_command(roundtrip_argv(PRODUCTS, seed=int(started), timeout=480))
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    result = finish(proc, 540, "the 2,000-product roundtrip (tests/cluster/hostkafka.py)")
    figure("products_2000", result)
    assert result["products"] == result["distinct_ids"] == PRODUCTS
    assert result["labelled"] == PRODUCTS, (
        f"{PRODUCTS - result['labelled']} products without a label, e.g. "
        f"{result['missing_sample']}; kubectl -n {NS} logs statefulset/{WORKERS}"
    )
    assert result["duplicates"] == 0
    assert result["dead_letters_total"] == 0
    SEEN["last_label_at"] = result["last_label_at"]


def test_the_predictor_goes_to_zero_after_the_cooldown(
    node: Node, installed: dict[str, float]
) -> None:
    spec = scaled_object(node)
    cooldown = int(spec["cooldownPeriod"])
    since = SEEN.get("last_label_at") or time.time()
    deadline = time.monotonic() + cooldown + int(spec["initialCooldownPeriod"]) + 120
    while predictor_replicas(node)[0] != 0:
        assert time.monotonic() < deadline, (
            f"deployment/{PREDICTOR} not at 0 replicas {cooldown} s after the lag went to 0: "
            f"kubectl -n {NS} describe scaledobject {PREDICTOR}; kubectl -n keda logs "
            "deployment/keda-operator"
        )
        time.sleep(1)
    figure("scale_1_to_0", {"after_last_label_s": round(time.time() - since, 1),
                            "cooldownPeriod_s": cooldown})  # fmt: skip


def test_the_first_waiting_product_wakes_the_predictor_and_gets_its_label(
    node: Node, installed: dict[str, float], kafka_command: Command
) -> None:
    assert predictor_replicas(node) == (0, 0), "the predictor must start at zero"
    polling = int(scaled_object(node)["pollingInterval"])
    started = time.time()
    argv = kafka_command(roundtrip_argv(1, seed=int(started) + 1, timeout=300))
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    activated = ready = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        replicas, ready_replicas = predictor_replicas(node)
        now = time.time()
        activated = activated or (now if replicas >= 1 else None)
        ready = ready or (now if ready_replicas >= 1 else None)
        time.sleep(0.5)
    result = finish(proc, 30, "the one-product roundtrip (tests/cluster/hostkafka.py)")
    assert result["labelled"] == 1 and result["duplicates"] == 0, result
    assert result["dead_letters_total"] == 0
    produced = result["produced_at"]
    figure("scale_0_to_1", {
        "label_after_produce_s": round(result["last_label_at"] - produced, 1),
        "keda_activation_s": None if activated is None else round(activated - produced, 1),
        "predictor_ready_s": None if ready is None else round(ready - produced, 1),
        "pollingInterval_s": polling,
    })  # fmt: skip
    assert activated is not None, f"KEDA never scaled deployment/{PREDICTOR} up"
