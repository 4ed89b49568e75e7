"""The project on the node: the dev Kafka (deploy/kafka) and the chart, installed with helm.

The dev Kafka keeps its log dir on a PersistentVolume (``persistence.enabled``, a claim
``data-kafka-0``), so a deleted Kafka pod comes back with its topics, offsets and
transactions: the node has no provisioner, so :func:`kafka_volume` makes a ``hostPath``
volume under the run directory, owned by the broker's uid 1000 and bound to that claim in
advance; :func:`uninstall` deletes it with its data.

Both go into one namespace (``category-match``) that enforces Pod Security ``restricted``:
it is made here, labelled, before helm runs (``helm --create-namespace`` would make it
without the labels). The Kafka release comes first and waits for its broker; then the chart
with ``ci/node-values.yaml``, whose pre-install hook Job makes the topics. Helm does not know
when an InferenceService or a ScaledObject is ready, so :func:`wait_ready` waits for each
one by name: the InferenceService Ready, KServe's Deployment ``<release>-predictor``, the
workers' StatefulSet, both ScaledObjects Ready (KEDA found its target and reached Kafka).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from localkube import operators
from localkube.node import Node
from localkube.proc import NotReady, Unavailable, log, run

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "category-match"
RELEASE = "category-match"
KAFKA_RELEASE = "kafka"
CHART = REPO / "deploy" / "helm" / "category-match"
KAFKA_CHART = REPO / "deploy" / "kafka"
VALUES = CHART / "ci" / "node-values.yaml"
KAFKA_VALUES = KAFKA_CHART / "ci" / "node-values.yaml"
HELM_TIMEOUT_S = 300
READY_S = 300.0
KAFKA_PV = "category-match-kafka-data"
KAFKA_CLAIM = "data-kafka-0"  # the StatefulSet's claim template "data", pod kafka-0
KAFKA_UID = 1000  # deploy/kafka runs as 1000:1000; fsGroup does not reach a hostPath
KAFKA_SETS = ("persistence.enabled=true", "persistence.size=2Gi")


def helm_binary() -> Path:
    """var/tools/helm (scripts/install_helm.sh installs it once, checked by its sha256)."""
    found = REPO / "var" / "tools" / "helm"
    if os.access(found, os.X_OK):
        return found
    python = REPO / ".venv" / "bin" / "python"
    env = {**os.environ, "PYTHON": str(python if python.exists() else sys.executable)}
    out = subprocess.run(["bash", str(REPO / "scripts" / "install_helm.sh")], env=env,
                         capture_output=True, text=True, check=False)  # fmt: skip
    if out.returncode:
        raise Unavailable(f"helm is missing and scripts/install_helm.sh failed:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


def helm(node: Node, *args: str, timeout: float = HELM_TIMEOUT_S + 60) -> str:
    env = {**os.environ, "KUBECONFIG": str(node.lay.kubeconfig("admin"))}
    env["HELM_CACHE_HOME"] = str(node.lay.run / "helm" / "cache")
    env["HELM_CONFIG_HOME"] = str(node.lay.run / "helm" / "config")
    env["HELM_DATA_HOME"] = str(node.lay.run / "helm" / "data")
    return run([helm_binary(), *args], env=env, timeout=timeout).stdout


def install(node: Node, extra_values: Sequence[str] = ()) -> dict[str, float]:
    """Namespace, dev Kafka on its volume, the chart (``extra_values``: more ``--set``
    pairs); waits until everything is ready. Returns seconds per step."""
    steps: dict[str, float] = {}
    t = time.monotonic()
    operators.apply(node, [operators.namespace(NAMESPACE)], "catmatch-release")
    kafka_volume(node)
    sets = [a for v in KAFKA_SETS for a in ("--set", v)]
    helm(node, "upgrade", "--install", KAFKA_RELEASE, str(KAFKA_CHART), "-n", NAMESPACE,
         "-f", str(KAFKA_VALUES), *sets, "--wait", f"--timeout={HELM_TIMEOUT_S}s")  # fmt: skip
    steps["kafka_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    chart(node, extra_values)
    steps["chart_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    wait_ready(node)
    steps["ready_s"] = round(time.monotonic() - t, 1)
    return steps


def chart(node: Node, extra_values: Sequence[str] = ()) -> None:
    """``helm upgrade --install`` of the chart with the node values and ``extra_values``
    (``--set`` pairs); without them, the node values alone again."""
    sets = [a for v in extra_values for a in ("--set", v)]
    helm(node, "upgrade", "--install", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(VALUES),
         *sets, f"--timeout={HELM_TIMEOUT_S}s")  # fmt: skip


def kafka_volume_object(path: Path, size: str = "2Gi") -> dict[str, object]:
    """The dev Kafka's PersistentVolume, bound in advance to its claim (pure)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": KAFKA_PV, "labels": {"app.kubernetes.io/part-of": "category-match"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(path), "type": "Directory"},
            "claimRef": {"namespace": NAMESPACE, "name": KAFKA_CLAIM},
        },
    }


def kafka_volume(node: Node) -> None:
    """The volume for the dev Kafka's claim: kept while it is bound or waiting for its
    claim, made again (empty) otherwise."""
    path = node.lay.run / "volumes" / "kafka-data"
    out = node.kubectl("get", "pv", KAFKA_PV, "-o", "json", check=False)
    if out.returncode == 0:
        phase = json.loads(out.stdout).get("status", {}).get("phase")
        if phase in ("Bound", "Available") and path.is_dir():
            return
        node.kubectl("delete", "pv", KAFKA_PV, "--wait=true", timeout=120)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.chown(path, KAFKA_UID, KAFKA_UID)
    path.chmod(0o770)
    operators.apply(node, [kafka_volume_object(path)], "catmatch-release")


def _conditions(node: Node, what: str) -> dict[str, dict[str, str]]:
    out = node.kubectl("-n", NAMESPACE, "get", what, "-o", "json", check=False, timeout=20)
    if out.returncode:
        return {}
    items = json.loads(out.stdout).get("status", {}).get("conditions") or []
    return {c["type"]: c for c in items}


def condition_true(node: Node, what: str, kind: str = "Ready") -> str:
    """"" when ``what``'s condition ``kind`` is True, else what it says instead."""
    found = _conditions(node, what).get(kind)
    if found is None:
        return f"{what}: no {kind} condition yet"
    if found["status"] == "True":
        return ""
    return f"{what}: {found.get('reason', '')} {found.get('message', '')}".strip()


def wait_ready(node: Node, timeout: float = READY_S) -> None:
    """The InferenceService Ready, KServe's Deployment Available (at zero replicas too: KEDA
    may have scaled it in already), the workers ready, both ScaledObjects Ready."""
    ns = NAMESPACE
    kserve_log = "kubectl -n kserve logs deployment/kserve-controller-manager"
    keda_log = "kubectl -n keda logs deployment/keda-operator"
    isvc, predictor = f"inferenceservice/{RELEASE}", f"deployment/{RELEASE}-predictor"
    workers = f"statefulset/{RELEASE}-worker"
    waits: list[tuple[str, Callable[[], str], str]] = [
        (isvc, lambda: condition_true(node, isvc),
         f"kubectl -n {ns} describe {isvc}; {kserve_log}"),
        (predictor, lambda: condition_true(node, predictor, "Available"),
         f"kubectl -n {ns} logs {predictor}"),
        (workers, lambda: _rolled_out(node, workers), f"kubectl -n {ns} logs {workers}"),
    ]  # fmt: skip
    for name in (f"{RELEASE}-predictor", f"{RELEASE}-worker"):
        what = f"scaledobject/{name}"
        hint = f"kubectl -n {ns} describe {what}; {keda_log}"
        waits.append((what, functools.partial(condition_true, node, what), hint))
    deadline = time.monotonic() + timeout
    for what, probe, hint in waits:
        took = operators.wait_for(what, probe, max(deadline - time.monotonic(), 1.0), hint)
        log(f"{what} ready ({took:.1f} s)")


def _rolled_out(node: Node, what: str) -> str:
    out = node.kubectl("-n", NAMESPACE, "get", what, "-o", "json", check=False, timeout=20)
    if out.returncode:
        return out.stderr.strip()[-200:]
    obj = json.loads(out.stdout)
    want = obj["spec"].get("replicas", 1)
    ready = obj.get("status", {}).get("readyReplicas", 0) or 0
    return "" if ready >= want else f"{what}: {ready}/{want} ready"


def uninstall(node: Node, *, timeout: float = 180) -> None:
    """Both releases, the namespace (the hook's Job and ConfigMap go with it) and the dev
    Kafka's volume with its data."""
    for release in (RELEASE, KAFKA_RELEASE):
        listed = helm(node, "list", "-n", NAMESPACE, "-q")
        if release in listed.split():
            helm(node, "uninstall", release, "-n", NAMESPACE, "--wait", f"--timeout={timeout:.0f}s")
    out = node.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true",
                       f"--timeout={timeout:.0f}s", check=False, timeout=timeout + 30)  # fmt: skip
    if out.returncode:
        raise NotReady(f"namespace {NAMESPACE} not deleted within {timeout:.0f} s: {out.stderr}")
    node.kubectl("delete", "pv", KAFKA_PV, "--ignore-not-found", "--wait=true", timeout=120)
    shutil.rmtree(node.lay.run / "volumes" / "kafka-data", ignore_errors=True)
