"""gitops/ for real: Argo CD syncs the dev Application (automated) and the ops Application
(by hand, ``argocd app sync --core``) from a local Git repository, every resource Healthy
and each sync wave Healthy before the next one starts.

What is real: Argo CD v3.5.7's application controller, repo server and Redis in namespace
``argocd`` (localkube.argocd), rendering the chart with its own helm from a bare clone of
this repository's HEAD that ``git daemon`` serves on the node's address; gitops/argocd's
AppProjects and Applications as committed, with the value files they name.

What the test changes, on the objects it applies (gitops/ itself is never edited):

- ``spec.source.repoURL`` of each Application and ``sourceRepos`` of each AppProject: the
  local repository (in the clone, ``main`` and the tag ``v0.1.0`` point at HEAD, so the
  Applications' ``targetRevision`` stays);
- ``spec.source.helm.valuesObject``, which Argo CD merges over the Application's value
  files, with what this node lacks or runs differently (:data:`NODE`): no Strimzi (the
  topics come from the chart's topic Job, so each project's whitelist also gets
  ``batch/Job``), no Knative (Standard mode, KEDA), no GPU and no model store (the CPU
  predictor image with the ONNX seed model baked in), the dev Kafka in namespace
  ``category-match`` without SASL/TLS;
- for ops, :func:`ops_values`: the digests of the node's own worker and predictor images
  (``image.requireDigest`` stays on; the committed values hold zero placeholders), and the
  token Secret ``category-match-predictor-token`` made in ``category-match-ops`` before the
  sync, as the ops runbook makes it outside Git.

The wave order is read from Argo CD itself: the test snapshots the Application's
``status.resources`` (each resource's ``syncWave`` and health) while it syncs and checks
them with tests/cluster/waves.py (the old layout that stopped the first ops sync fails that
check: tests/unit/test_cluster_tool_waves.py). Needs root and ``CATMATCH_CLUSTER=1``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.conftest import REPO, enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube import argocd, images, operators, release, upstream  # noqa: E402
from localkube.node import Node  # noqa: E402

from tests.cluster import flows, waves  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
GITOPS = REPO / "gitops" / "argocd"
KAFKA = f"kafka.{release.NAMESPACE}.svc:9092"
PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
MONITORING_CRDS = ("servicemonitors", "podmonitors", "prometheusrules")
WORKER_IMAGE = "ghcr.io/category-match/category-match-worker:0.1.0-seed"
PREDICTOR_IMAGE = "ghcr.io/category-match/category-match-predictor:0.1.0-seed-onnx"
SYNC_S = 420.0

# What this node runs differently from the clusters the environments are written for.
NODE: dict[str, Any] = {
    "kafka": {"bootstrapServers": KAFKA, "securityProtocol": "PLAINTEXT",
              "sasl": {"mechanism": "", "username": "", "existingSecret": ""},
              "tls": {"caSecret": ""}},
    "topics": {"replicationFactor": 1, "strimzi": {"enabled": False},
               "bootstrapJob": {"enabled": True, "timeoutSeconds": 30}},
    "model": {"runtime": "onnx"},
    "modelStore": {"enabled": False},
    "predictor": {
        "deploymentMode": "Standard",
        "image": {"tag": "0.1.0-seed-onnx"},  # the CPU image (ops pins it by digest)
        "keda": {"enabled": True, "pollingInterval": 5, "cooldownPeriod": 120},
        "device": "cpu", "gpu": {"enabled": False}, "prometheusScraping": False,
        "resources": {"requests": {"cpu": "200m", "memory": "512Mi"},
                      "limits": {"cpu": "1", "memory": "1536Mi"}},
    },
    "worker": {"resources": {"requests": {"cpu": "100m", "memory": "160Mi"},
                             "limits": {"cpu": "1", "memory": "384Mi"}}},
}  # fmt: skip


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        nested = isinstance(v, dict) and isinstance(out.get(k), dict)
        out[k] = deep_merge(out[k], v) if nested else v
    return out


def node_digest(node: Node, name: str) -> str:
    """The manifest digest containerd holds for ``name``; ``name``'s repository @ that
    digest is added as a name of the same image (pods then find the pinned reference)."""
    ref = images.normalize(name)
    listed = images.ctr(node.lay.containerd_sock, "images", "list", f"name=={ref}")
    fields = listed.splitlines()[1].split()
    digest = next(f for f in fields if f.startswith("sha256:"))
    pinned = f"{ref.rsplit(':', 1)[0]}@{digest}"
    if pinned not in images.containerd_images(node.lay.containerd_sock):
        images.ctr(node.lay.containerd_sock, "images", "tag", ref, pinned)
    return digest


def ops_values(node: Node) -> dict[str, Any]:
    return deep_merge(NODE, {
        "predictor": {"image": {"digest": node_digest(node, PREDICTOR_IMAGE)}},
        "worker": {"image": {"digest": node_digest(node, WORKER_IMAGE)}},
    })  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def project(env: str, url: str) -> dict[str, Any]:
    obj = load(GITOPS / f"project-{env}.yaml")
    obj["spec"]["sourceRepos"] = [url]
    return obj


def application(env: str, url: str, values: dict[str, Any]) -> dict[str, Any]:
    obj = load(GITOPS / f"{env}.yaml")
    obj["spec"]["source"]["repoURL"] = url
    obj["spec"]["source"]["helm"]["valuesObject"] = values
    return obj


class Recorder:
    """Snapshots of an Application's ``status.resources`` every half second, in a thread."""

    def __init__(self, node: Node, name: str) -> None:
        self.node, self.name = node, name
        self.snapshots: list[waves.Snapshot] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Recorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def app(self) -> dict[str, Any] | None:
        out = self.node.kubectl("-n", argocd.NAMESPACE, "get", "application", self.name,
                                "-o", "json", check=False, timeout=20)  # fmt: skip
        return json.loads(out.stdout) if out.returncode == 0 else None

    def _run(self) -> None:
        last: Any = None
        while not self._stop.is_set():
            app = self.app()
            if app is not None:
                status = app.get("status") or {}
                now = (status.get("resources"), (status.get("operationState") or {}).get("phase"))
                if now != last:
                    self.snapshots.append(waves.from_application(app, time.time()))
                    last = now
            self._stop.wait(0.5)


def operation(app: dict[str, Any] | None) -> dict[str, Any]:
    return dict(((app or {}).get("status") or {}).get("operationState") or {})


def sync_status(rec: Recorder) -> str:
    return str(((rec.app() or {}).get("status") or {}).get("sync", {}).get("status") or "")


def synced_and_healthy(rec: Recorder) -> bool:
    app = rec.app() or {}
    status = app.get("status") or {}
    op = operation(app)
    assert op.get("phase") not in ("Failed", "Error"), (
        f"the sync of {rec.name} failed: {op.get('message')}; "
        f"kubectl -n argocd get application {rec.name} -o yaml; "
        "kubectl -n argocd logs statefulset/argocd-application-controller"
    )
    return (op.get("phase") == "Succeeded"
            and (status.get("sync") or {}).get("status") == "Synced"
            and (status.get("health") or {}).get("status") == "Healthy")  # fmt: skip


@pytest.fixture(scope="module")
def gitops(node: Node, installed: dict[str, float]) -> Iterator[argocd.GitRepo]:
    """Argo CD on the node with the local repository; the chart's own release goes first
    (the Applications install the same chart into their own namespaces, on the same Kafka)."""
    if "category-match" in release.helm(node, "list", "-n", release.NAMESPACE, "-q").split():
        release.helm(node, "uninstall", release.RELEASE, "-n", release.NAMESPACE, "--wait")
    started = time.monotonic()
    root = upstream.module_dir(*PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    crds = upstream.load(node.kubectl, [root / f"monitoring.coreos.com_{n}.yaml"
                                        for n in MONITORING_CRDS])  # fmt: skip
    operators.apply(node, crds, "catmatch-argocd-test")
    operators.wait_crds(node, [c["metadata"]["name"] for c in crds])
    steps = argocd.install(node)
    repo = argocd.GitRepo(node.lay.run / "gitops", node.lay.node_ip)
    head = repo.publish(REPO)
    repo.serve()
    figure("argocd_bring_up_s", round(time.monotonic() - started, 1))
    figure("argocd_steps", steps | {"head": head[:12]})
    try:
        yield repo
    finally:
        for env in ("dev", "ops"):
            node.kubectl("-n", argocd.NAMESPACE, "delete", "application",
                         f"category-match-{env}", "--ignore-not-found", "--wait=true",
                         "--timeout=180s", check=False, timeout=240)  # fmt: skip
            node.kubectl("delete", "namespace", f"category-match-{env}", "--ignore-not-found",
                         "--wait=true", "--timeout=180s", check=False, timeout=240)  # fmt: skip
        argocd.uninstall(node)
        operators.delete(node, crds)
        repo.stop()


def sync_and_check(node: Node, env: str, rec: Recorder, started: float) -> waves.Report:
    hint = (f"kubectl -n argocd get application category-match-{env} -o yaml; kubectl -n "
            "argocd logs statefulset/argocd-application-controller")  # fmt: skip
    flows.wait_until(f"category-match-{env} Synced and Healthy", lambda: synced_and_healthy(rec),
                     SYNC_S, hint, interval=2)  # fmt: skip
    time.sleep(1.5)  # one more snapshot after the end
    report = waves.check(rec.snapshots)
    app = rec.app() or {}
    result = operation(app).get("syncResult") or {}
    hooks = [r for r in result.get("resources") or [] if r.get("hookType")]
    figure(f"argocd_{env}", {
        "synced_healthy_s": round(time.time() - started, 1),
        "waves": report.wave_timeline(started),
        "hooks": [f"{r['kind']}/{r['name']} {r.get('hookPhase')}" for r in hooks],
        "resources": len(app["status"]["resources"]), "snapshots": len(rec.snapshots),
    })  # fmt: skip
    assert report.errors == [], report.errors
    assert hooks and all(r.get("hookPhase") == "Succeeded" for r in hooks), hooks
    assert set(report.waves) >= {-2, 0, 1, 2}, report.waves
    return report


def assert_scalers_after_their_targets(report: waves.Report) -> None:
    """Each ScaledObject is in a later wave than the workload it scales (issue 16, defect 1:
    in the same wave KEDA reports it not ready, Argo CD calls that Degraded and stops)."""
    wave = {n: w for w, names in report.waves.items() for n in names}
    targets = {
        "ScaledObject/category-match-predictor": ["InferenceService/category-match"],
        "ScaledObject/category-match-worker": [
            "StatefulSet/category-match-worker",
            "Deployment/category-match-worker",
        ],
    }
    scalers = [n for n in wave if n.startswith("ScaledObject/")]
    assert scalers, report.waves
    for scaler in scalers:
        (target,) = [t for t in targets[scaler] if t in wave]
        assert wave[scaler] > wave[target], (
            f"{scaler} in wave {wave[scaler]}, {target} in {wave[target]}"
        )


def products_flow(node: Node, env: str, kafka_command: flows.Command) -> dict[str, Any]:
    proc = flows.start(kafka_command, flows.roundtrip_argv(100, int(time.time()), 300))
    result = flows.finish(proc, 360, f"100 products through category-match-{env}")
    assert result["labelled"] == 100 and result["duplicates"] == 0, result
    assert result["dead_letters"] == 0
    return result


def test_dev_syncs_itself_in_wave_order(
    node: Node, gitops: argocd.GitRepo, kafka_command: flows.Command
) -> None:
    operators.apply(node, [project("dev", gitops.url)], "catmatch-argocd-test")
    started = time.time()
    with Recorder(node, "category-match-dev") as rec:
        operators.apply(node, [application("dev", gitops.url, NODE)], "catmatch-argocd-test")
        report = sync_and_check(node, "dev", rec, started)
    assert_scalers_after_their_targets(report)
    products_flow(node, "dev", kafka_command)
    node.kubectl("-n", argocd.NAMESPACE, "delete", "application", "category-match-dev",
                 "--wait=true", "--timeout=180s", timeout=240)  # fmt: skip


def test_ops_waits_for_a_manual_sync_then_syncs_in_wave_order(
    node: Node, gitops: argocd.GitRepo, kafka_command: flows.Command
) -> None:
    ops = application("ops", gitops.url, ops_values(node))
    ns = ops["spec"]["destination"]["namespace"]
    labels = ops["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
    token = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": "category-match-predictor-token", "namespace": ns},
             "stringData": {"token": f"node-test-{int(time.time())}"}}  # fmt: skip
    operators.apply(node, [{"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": ns, "labels": labels}}, token],
                    "catmatch-argocd-test")  # fmt: skip
    operators.apply(node, [project("ops", gitops.url)], "catmatch-argocd-test")
    with Recorder(node, "category-match-ops") as rec:
        operators.apply(node, [ops], "catmatch-argocd-test")
        # Manual: Argo CD compares and reports OutOfSync, and syncs nothing by itself.
        hint = "kubectl -n argocd get application category-match-ops -o yaml"
        flows.wait_until("ops compared (OutOfSync)", lambda: sync_status(rec) == "OutOfSync",
                         180, hint)  # fmt: skip
        time.sleep(5)
        assert operation(rec.app()) == {}, "ops synced without being asked"
        assert node.kubectl("-n", ns, "get", "statefulset,deployment", "-o", "name").stdout == ""
        started = time.time()
        out = argocd.cli(node, "app", "sync", "category-match-ops", "--async")
        figure("argocd_ops_cli", out.strip().splitlines()[-3:])
        assert_scalers_after_their_targets(sync_and_check(node, "ops", rec, started))
    pods = flows.get(node, "pods", "-l", "app.kubernetes.io/component", ns=ns)["items"]
    refs = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert refs and all("@sha256:" in r for r in refs), refs
    products_flow(node, "ops", kafka_command)
