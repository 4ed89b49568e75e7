"""Server-side dry run of the rendered chart and the Argo CD manifests on a REAL kube-apiserver.

``scripts/kube_apiserver.py`` starts etcd + kube-apiserver v1.32 on loopback (once for this
module) with the upstream CRDs of KServe, KEDA, Prometheus Operator, Argo CD, Istio and
Strimzi installed. Every render set then goes through ``kubectl apply --server-side
--dry-run=server``: the API server checks types, unknown fields (kubectl's default
``--validate=strict``), enums, formats and the CRDs' CEL rules, as a cluster would, without
any operator or webhook. The chart is rendered with the helm binary and helpers of
``scripts/validate_manifests.py``. The namespace goes through a kubeconfig context, not
``-n``: the KafkaTopics set their own namespace (the Strimzi cluster's).

The dev Kafka chart (``deploy/kafka``) goes through the same checks. Pod Security
admission checks the pods for real: every namespace is labelled for the
``restricted`` profile (the Argo CD Applications' own ``managedNamespaceMetadata`` labels
where an Application renders the set), so a workload whose pod template falls short draws
a warning, which fails the test; and each pod template (Deployments, StatefulSets and the
InferenceService's predictor, whose pods Knative creates) is also dry-run as a Pod in a
namespace that *enforces* ``restricted``, where such a pod is refused.

The toolchain is prepared by ``scripts/test.sh`` before pytest, else by the ``server``
fixture (cached under ``~/.cache/category-match/k8s``; the first time about 4 min of Go
build on two idle cores, twice that on a loaded machine). When this
machine cannot prepare it (no Go and no network, no etcd and not root) the tests skip with
that reason, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.tools import load_script, unavailable

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "category-match"
KAFKA_CHART = REPO / "deploy" / "kafka"  # the single-node dev Kafka
ARGOCD_DIR = REPO / "gitops" / "argocd"
VALUES_DIR = REPO / "gitops" / "values"
KUBE = "1.32"  # the API server's minor version, also passed to helm --kube-version
DRY_RUN_OK = "serverside-applied (server dry run)"
# Pod Security admission: a workload whose pods would not meet "restricted" draws a warning
# (enforce or warn; workloads are never refused), a Pod that does not is refused (enforce).
RESTRICTED = {
    f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")
}
PODS_NAMESPACE = "psa-restricted"  # where the pod templates are dry-run as Pods
# Warnings that are not the manifests' fault: Argo CD's own documented finalizer name
# (its "/background" variant would change how an Application's deletion cascades).
KNOWN_WARNINGS = ('"resources-finalizer.argocd.argoproj.io": prefer a domain-qualified',)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # a cold prepare: ~6 min


kas = load_script("kube_apiserver")
vm = load_script("validate_manifests")


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """One etcd + kube-apiserver for the module, CRDs installed; stopped at teardown."""
    try:
        tools = kas.prepare()
    except kas.Unavailable as exc:
        unavailable(f"no kube-apiserver toolchain on this machine: {exc}")
    with kas.ApiServer.running(tools) as srv:
        yield srv


@pytest.fixture(scope="module")
def helm() -> Path:
    return Path(vm.install_helm())


def render(
    helm: Path, release: str, namespace: str, args: list[str], chart: Path = CHART
) -> list[dict[str, Any]]:
    report = vm.Report()
    objs: list[dict[str, Any]] = vm.helm_render(
        helm, release, namespace, args, KUBE, report, chart
    )
    assert not report.errors, report.errors
    assert objs, "the render is empty"
    return objs


def ensure_namespaces(server: Any, labels: dict[str, dict[str, str]]) -> None:
    """Create the namespaces for real, with these labels (server-side apply): a dry run
    into a namespace that does not exist is refused."""
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": lbl}}
        for n, lbl in sorted(labels.items())
    ]
    out = server.kubectl(
        "apply", "--server-side", "--field-manager=test-namespaces", "-f", "-",
        stdin=yaml.safe_dump_all(docs),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def dry_run(
    server: Any, objs: list[dict[str, Any]], namespace: str, labels: dict[str, str] | None = None
) -> Any:
    """``kubectl apply --server-side --dry-run=server`` of ``objs``, in ``namespace`` unless
    an object names its own. The namespaces are created first, ``namespace`` with
    ``labels`` (default: Pod Security ``restricted``, enforced)."""
    own = {o["metadata"]["namespace"] for o in objs if "namespace" in o.get("metadata", {})}
    wanted = {n: {} for n in own - {namespace}}
    ensure_namespaces(server, {**wanted, namespace: labels or dict(RESTRICTED)})
    return server.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=argocd-controller",
        "-f", "-", namespace=namespace, stdin=yaml.safe_dump_all(objs),
    )  # fmt: skip


def assert_all_accepted(out: Any, objs: list[dict[str, Any]]) -> None:
    """Every object accepted, and no warning (Pod Security, deprecations, ...)."""
    assert out.returncode == 0, f"the API server refused:\n{out.stderr}\n{out.stdout}"
    accepted = [line for line in out.stdout.splitlines() if line.endswith(DRY_RUN_OK)]
    assert len(accepted) == len(objs), out.stdout
    warnings = [
        line for line in out.stderr.splitlines()
        if line.startswith("Warning:") and not any(k in line for k in KNOWN_WARNINGS)
    ]  # fmt: skip
    assert not warnings, out.stderr


@pytest.fixture(scope="module")
def pod_spec_fields(server: Any) -> frozenset[str]:
    """The fields of a PodSpec, from the API server's own OpenAPI document."""
    out = server.kubectl("get", "--raw", "/openapi/v3/api/v1")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]
    return frozenset(schema["properties"])


def pods_of(objs: list[dict[str, Any]], pod_spec_fields: frozenset[str]) -> list[dict[str, Any]]:
    """The pods these objects would make, as Pods: each workload's template (with the claims
    of a StatefulSet's volumeClaimTemplates), and each InferenceService's predictor (its
    PodSpec fields; KServe's own, such as minReplicas, are not the pod's). What controllers
    add (Knative's queue-proxy, KServe's model mount) is not there."""
    pods = []
    for obj in objs:
        name, kind = obj["metadata"]["name"], obj["kind"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            template = copy.deepcopy(obj["spec"]["template"])
            meta, spec = template.get("metadata") or {}, template["spec"]
            # A StatefulSet's pods get a claim per volumeClaimTemplate, as its controller adds.
            for claim in obj["spec"].get("volumeClaimTemplates") or []:
                claim_name = claim["metadata"]["name"]
                spec.setdefault("volumes", []).append({
                    "name": claim_name,
                    "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"},
                })  # fmt: skip
        elif kind == "CronJob":
            template = copy.deepcopy(obj["spec"]["jobTemplate"]["spec"]["template"])
            meta, spec = template.get("metadata") or {}, template["spec"]
        elif kind == "InferenceService":
            predictor = obj["spec"]["predictor"]
            meta = {k: predictor[k] for k in ("labels", "annotations") if k in predictor}
            spec = {k: copy.deepcopy(v) for k, v in predictor.items() if k in pod_spec_fields}
            assert spec.get("containers"), f"{name}: a predictor without containers"
        else:
            continue
        meta = {**meta, "name": f"{name}-{kind.lower()}"}
        pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    return pods


def ensure_pod_prerequisites(server: Any, pods: list[dict[str, Any]], namespace: str) -> None:
    """What admission looks up for a pod, created for real: its ServiceAccount (the one the
    chart makes, or ``default``, which no controller creates here) and PriorityClass."""
    accounts = {p["spec"].get("serviceAccountName") or "default" for p in pods}
    classes = {p["spec"]["priorityClassName"] for p in pods if p["spec"].get("priorityClassName")}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": a, "namespace": namespace}}
        for a in sorted(accounts)
    ] + [
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
         "metadata": {"name": c}, "value": 1000}
        for c in sorted(classes)
    ]  # fmt: skip
    out = server.kubectl(
        "apply", "--server-side", "--field-manager=test-prerequisites", "-f", "-",
        namespace=namespace, stdin=yaml.safe_dump_all(docs),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


def dry_run_pods(server: Any, pods: list[dict[str, Any]]) -> Any:
    """Server dry run of ``pods`` where Pod Security enforces "restricted"."""
    ensure_namespaces(server, {PODS_NAMESPACE: dict(RESTRICTED)})
    ensure_pod_prerequisites(server, pods, PODS_NAMESPACE)
    return dry_run(server, pods, PODS_NAMESPACE)


def assert_pods_restricted(
    server: Any, objs: list[dict[str, Any]], pod_spec_fields: frozenset[str]
) -> None:
    """Each pod of the render, dry-run as a Pod where Pod Security enforces "restricted"."""
    pods = pods_of(objs, pod_spec_fields)
    assert pods, "the render makes no pods"
    assert_all_accepted(dry_run_pods(server, pods), pods)


# -- render sets ----------------------------------------------------------------------------


@dataclass
class RenderSet:
    release: str
    namespace: str
    args: list[str]
    labels: dict[str, str]  # of the release namespace


def _applications() -> list[dict[str, Any]]:
    docs = [d for f in sorted(ARGOCD_DIR.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    return [d for d in docs if d and d.get("kind") == "Application"]


def values_render(env: str, tmp: Path) -> RenderSet:
    """gitops/values/<env>.yaml rendered as the Argo CD Application that uses it renders it
    (release name, namespace, value files, the labels it puts on the namespace it creates),
    or plainly with that file when no Application does."""
    values = (VALUES_DIR / f"{env}.yaml").resolve()
    for app in _applications():
        args = vm.app_render_args(app, tmp)
        if str(values) in args:
            spec = app["spec"]
            release = (spec["source"].get("helm") or {}).get("releaseName", app["metadata"]["name"])
            managed = (spec.get("syncPolicy") or {}).get("managedNamespaceMetadata") or {}
            labels = {**RESTRICTED, **(managed.get("labels") or {})}
            return RenderSet(release, spec["destination"]["namespace"], args, labels)
    return RenderSet("category-match", f"category-match-{env}", ["-f", str(values)], RESTRICTED)


CI_VALUES = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))


@pytest.mark.parametrize("env", ["dev", "ops"])
def test_gitops_values_render_passes_server_dry_run(
    server, helm, pod_spec_fields, env: str, tmp_path
) -> None:
    rs = values_render(env, tmp_path)
    objs = render(helm, rs.release, rs.namespace, rs.args)
    assert {"InferenceService", "Deployment", "KafkaTopic"} <= {o["kind"] for o in objs}
    assert_all_accepted(dry_run(server, objs, rs.namespace, rs.labels), objs)
    assert_pods_restricted(server, objs, pod_spec_fields)


@pytest.mark.parametrize("values", ["(defaults)", *CI_VALUES])
def test_chart_ci_values_render_passes_server_dry_run(
    server, helm, pod_spec_fields, values: str
) -> None:
    args = [] if values == "(defaults)" else ["-f", str(CHART / "ci" / values)]
    objs = render(helm, "category-match", "category-match-ci", args)
    assert_all_accepted(dry_run(server, objs, "category-match-ci"), objs)
    assert_pods_restricted(server, objs, pod_spec_fields)


KAFKA_CI_VALUES = sorted(p.name for p in (KAFKA_CHART / "ci").glob("*-values.yaml"))


@pytest.mark.parametrize("values", ["(defaults)", *KAFKA_CI_VALUES])
def test_dev_kafka_chart_passes_server_dry_run(
    server, helm, pod_spec_fields, values: str
) -> None:
    """deploy/kafka (with a claim, and with the node's emptyDir): its pod meets "restricted"."""
    args = [] if values == "(defaults)" else ["-f", str(KAFKA_CHART / "ci" / values)]
    objs = render(helm, "kafka", "category-match-ci", args, KAFKA_CHART)
    assert {"StatefulSet", "Service", "ConfigMap"} <= {o["kind"] for o in objs}
    assert_all_accepted(dry_run(server, objs, "category-match-ci"), objs)
    assert_pods_restricted(server, objs, pod_spec_fields)


@pytest.mark.parametrize("name", sorted(p.name for p in ARGOCD_DIR.glob("*.yaml")))
def test_argocd_manifest_passes_server_dry_run(server, name: str) -> None:
    objs = [d for d in yaml.safe_load_all((ARGOCD_DIR / name).read_text()) if d]
    assert objs
    assert_all_accepted(dry_run(server, objs, "argocd"), objs)


def test_the_render_sets_cover_every_kind_of_the_chart(helm, tmp_path) -> None:
    """Every kind a template can make is in some render set above, so none goes unchecked
    (needs helm only: it runs where the API server cannot)."""
    templates = "\n".join(f.read_text() for f in (CHART / "templates").glob("*.yaml"))
    expected = set(re.findall(r"^kind: ([A-Za-z]+)\s*$", templates, re.M))
    expected |= {"Deployment", "StatefulSet"}  # worker.kind
    rendered: set[str] = set()
    for env in ("dev", "ops"):
        rs = values_render(env, tmp_path)
        rendered |= {o["kind"] for o in render(helm, rs.release, rs.namespace, rs.args)}
    for values in CI_VALUES:
        args = ["-f", str(CHART / "ci" / values)]
        rendered |= {o["kind"] for o in render(helm, "category-match", "category-match-ci", args)}
    assert expected <= rendered, f"no render set makes {sorted(expected - rendered)}"


# -- the server refuses what is broken (so the tests above can fail) --------------------------


@pytest.fixture(scope="module")
def dev_objects(helm, tmp_path_factory) -> tuple[str, list[dict[str, Any]]]:
    """The dev render (namespace, objects), which the server accepts as it is."""
    rs = values_render("dev", tmp_path_factory.mktemp("dev"))
    return rs.namespace, render(helm, rs.release, rs.namespace, rs.args)


def _one(objs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(o for o in objs if o["kind"] == kind))


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    node: Any = obj
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[leaf] = value
    return obj


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        # a string where an integer belongs
        ("InferenceService", "spec.predictor.minReplicas", "two",
         ['.spec.predictor.minReplicas: expected numeric (int or float), got string']),
        # a misspelled field (minReplica instead of minReplicas)
        ("InferenceService", "spec.predictor.minReplica", 0,
         ['.spec.predictor.minReplica: field not declared in schema']),
        # a value outside the CRD's enum
        ("InferenceService", "spec.predictor.scaleMetric", "latency",
         ['spec.predictor.scaleMetric: Unsupported value: "latency"']),
        # below the CRD's minimum
        ("KafkaTopic", "spec.partitions", 0,
         ["spec.partitions: Invalid value: 0: spec.partitions in body should be greater than "
          "or equal to 1"]),
        # a core kind: an unknown field in the pod template
        ("Deployment", "spec.template.spec.containers.0.imagePullPolize", "Always",
         ['.spec.template.spec.containers[name="worker"].imagePullPolize: field not declared']),
    ],
    ids=["isvc-string-for-integer", "isvc-misspelled-field", "isvc-enum", "kafkatopic-minimum",
         "deployment-unknown-field"],
)  # fmt: skip
def test_server_dry_run_rejects_broken_objects(
    server, dev_objects, kind: str, path: str, value: Any, expected: list[str]
) -> None:
    namespace, objs = dev_objects
    good = _one(objs, kind)
    assert_all_accepted(dry_run(server, [good], namespace), [good])
    broken = _set(copy.deepcopy(good), path, value)
    out = dry_run(server, [broken], namespace)
    assert out.returncode != 0, f"accepted a broken {kind}: {json.dumps(broken)[:400]}"
    assert DRY_RUN_OK not in out.stdout
    for text in expected:
        assert text in out.stderr, out.stderr


def test_pod_security_warns_about_a_pod_that_is_not_restricted(server, dev_objects) -> None:
    """A privilege-escalating worker is accepted, with Pod Security's warning (which
    assert_all_accepted refuses)."""
    namespace, objs = dev_objects
    deploy = _one(objs, "Deployment")
    deploy["spec"]["template"]["spec"]["containers"][0].setdefault("securityContext", {})[
        "allowPrivilegeEscalation"
    ] = True
    out = dry_run(server, [deploy], namespace)
    assert out.returncode == 0, out.stderr
    assert 'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation' in out.stderr


def test_pod_security_refuses_a_pod_that_is_not_restricted(
    server, dev_objects, pod_spec_fields
) -> None:
    """Where "restricted" is enforced, the predictor's pod without its seccomp profile and
    running as root is refused (the check assert_pods_restricted relies on)."""
    _, objs = dev_objects
    (pod,) = pods_of([_one(objs, "InferenceService")], pod_spec_fields)
    assert_all_accepted(dry_run_pods(server, [pod]), [pod])
    context = pod["spec"]["containers"][0]["securityContext"]
    del context["seccompProfile"]
    context["runAsNonRoot"] = False
    out = dry_run_pods(server, [pod])
    assert out.returncode != 0, "a pod that is not restricted was accepted"
    assert 'violates PodSecurity "restricted:latest"' in out.stderr, out.stderr
    assert "seccompProfile" in out.stderr and "runAsNonRoot" in out.stderr, out.stderr
