#!/usr/bin/env python3
"""Validate the Helm chart and the Argo CD manifests offline (no cluster, no network).

Render sets: the chart with its default values, with every ``ci/*-values.yaml``, and once per
Argo CD Application in ``gitops/argocd`` (its own valueFiles, release name and namespace);
the dev Kafka chart (``deploy/kafka``) with its defaults and its ``ci/*-values.yaml``.
Each set gets ``helm lint --strict`` and ``helm template``; every rendered object is then
checked with jsonschema: core kinds against the strict Kubernetes schemas bundled in the
PyPI package kubernetes-validate, custom resources against ``deploy/schemas``. Also
checked: object names and labels, references between objects, that every object has an
Argo CD sync wave no earlier than the objects it refers to, the worker settings file against
``core.settings``, and that the Argo CD project allows every destination and kind.

Usage: ``python scripts/validate_manifests.py [-v] [--kube-version 1.31]``. Exits 1 listing
every error. helm comes from ``scripts/install_helm.sh`` (installed on first use).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "category-match"
KAFKA_CHART = REPO / "deploy" / "kafka"  # the single-node dev Kafka (no Argo CD Application)
ARGOCD_DIR = REPO / "gitops" / "argocd"
TOOLS = REPO / "var" / "tools"
KV_WHEEL = "kubernetes_validate-1.37.0-py3-none-any.whl"
KV_SHA256 = "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
K8S_DEFS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = {"$ref": f"{K8S_DEFS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
WORKLOADS = {"Deployment", "StatefulSet"}


@dataclass
class Report:
    """What was validated and what failed."""

    kinds: dict[str, Counter[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def is_custom(api_version: str) -> bool:
    """Custom resources have a dotted group outside *.k8s.io (apps/v1, v1 are core)."""
    group = api_version.rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


# -- schemas --------------------------------------------------------------------------------


def crd_schema_dir(explicit: str | None) -> Path:
    """The custom-resource schemas: the flag, else $CATMATCH_K8S_SCHEMAS, else the copy in
    the repository (``deploy/schemas``, see its README for sources and licences)."""
    in_repo = str(REPO / "deploy" / "schemas")
    candidates = [explicit, os.environ.get("CATMATCH_K8S_SCHEMAS"), in_repo]
    for cand in candidates:
        if cand and Path(cand, "serving.kserve.io").is_dir():
            return Path(cand)
    raise SystemExit(f"validate_manifests: no custom-resource schemas in {candidates}")


def _kv_wheel() -> Path:
    """kubernetes-validate's wheel in var/tools (downloaded once, hash-checked)."""
    wheel = TOOLS / KV_WHEEL
    if not wheel.is_file():
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(TOOLS),
                "kubernetes-validate==1.37.0",
            ],
            check=True,
        )
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != KV_SHA256:
        raise SystemExit(f"validate_manifests: sha256 mismatch for {wheel}")
    return wheel


class Schemas:
    """Validators for core kinds (one Kubernetes version, strict) and custom resources."""

    def __init__(self, kube_version: str, crd_dir: Path) -> None:
        self.crd_dir = crd_dir
        self.sub = f"kubernetes-json-schema/v{kube_version}.0-local-strict"
        if importlib.util.find_spec("kubernetes_validate") is not None:
            root = importlib.resources.files("kubernetes_validate") / self.sub
            self._read = lambda name: (root / name).read_text()
        else:  # not installed: read the schemas straight out of its wheel
            zf = zipfile.ZipFile(_kv_wheel())
            self._read = lambda name: zf.read(f"kubernetes_validate/{self.sub}/{name}").decode()
        self.registry = (
            Resource.from_contents(json.loads(self._read("_definitions.json"))) @ Registry()
        )
        self._cache: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}
        self.meta = self._validator(OBJECT_META)

    def _validator(self, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        return jsonschema.Draft202012Validator(schema, registry=self.registry)

    def for_object(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        key = (api_version, kind)
        if key not in self._cache:
            self._cache[key] = self._load(api_version, kind)
        return self._cache[key]

    def _load(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        group, _, version = api_version.rpartition("/")
        if is_custom(api_version):
            path = self.crd_dir / group / f"{kind.lower()}_{version}.json"
            return self._validator(json.loads(path.read_text())) if path.is_file() else None
        prefix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        try:
            return self._validator(json.loads(self._read(f"{kind.lower()}-{prefix}.json")))
        except (FileNotFoundError, KeyError):
            return None


# -- helm -----------------------------------------------------------------------------------


def install_helm() -> Path:
    """var/tools/helm, installed by scripts/install_helm.sh (with this interpreter's pip)."""
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "install_helm.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    if out.returncode:
        raise SystemExit(f"validate_manifests: install_helm.sh failed:\n{out.stderr}")
    return Path(out.stdout.strip().splitlines()[-1])


def helm_render(
    helm: Path,
    name: str,
    namespace: str,
    args: list[str],
    kube: str,
    report: Report,
    chart: Path = CHART,
) -> list[dict[str, Any]]:
    """``helm lint --strict`` then ``helm template`` of ``chart``; errors go to the report."""
    lint = subprocess.run(
        [str(helm), "lint", "--strict", str(chart), *args], capture_output=True, text=True
    )
    if lint.returncode:
        report.errors.append(f"helm lint failed: {(lint.stdout + lint.stderr).strip()}")
    tmpl = subprocess.run(
        [
            str(helm),
            "template",
            name,
            str(chart),
            "--namespace",
            namespace,
            "--kube-version",
            f"{kube}.0",
            *args,
        ],
        capture_output=True,
        text=True,
    )
    if tmpl.returncode:
        report.errors.append(f"helm template failed: {tmpl.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(tmpl.stdout) if d]


def notes_chart(tmp: Path, chart: Path = CHART) -> Path:
    """A copy of ``chart`` whose only output is NOTES.txt, rendered (helm template skips it)."""
    copy = tmp / f"notes-{chart.name}"
    shutil.copytree(chart, copy)
    (copy / "templates" / "NOTES.txt").rename(copy / "notes.txt")
    (copy / "templates" / "zz-notes.yaml").write_text(
        'notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}\n'
    )
    return copy


def helm_notes(helm: Path, chart: Path, name: str, namespace: str, args: list[str]) -> str:
    """NOTES.txt as `helm install` would print it; raises on a template error."""
    out = subprocess.run(
        [str(helm), "template", name, str(chart), "--namespace", namespace,
         "--show-only", "templates/zz-notes.yaml", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return str(yaml.safe_load(out.stdout)["notes"])


# -- object checks --------------------------------------------------------------------------


def _where(err: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in err.absolute_path) or "(root)"


def check_object(obj: dict[str, Any], schemas: Schemas) -> list[str]:
    """Schema, name and label errors of one object."""
    kind, api = obj.get("kind", "?"), obj.get("apiVersion", "?")
    validator = schemas.for_object(api, kind)
    if validator is None:
        return [f"no schema for {api} {kind}"]
    errs = [f"{_where(e)}: {e.message[:300]}" for e in validator.iter_errors(obj)]
    meta = obj.get("metadata") or {}
    if is_custom(api):  # CRD schemas leave metadata free-form: check it as ObjectMeta
        errs += [f"metadata: {e.message[:300]}" for e in schemas.meta.iter_errors(meta)]
    name = str(meta.get("name", ""))
    strict_label = kind in {"Service", "InferenceService"}
    if not (DNS_LABEL if strict_label else DNS_SUBDOMAIN).match(name) or len(name) > (
        63 if strict_label else 253
    ):
        errs.append(f"metadata/name: {name!r} is not a valid {kind} name")
    if kind == "InferenceService" and len(f"{name}-predictor") > 63:
        errs.append(f"metadata/name: {name}-predictor (the Knative service) exceeds 63 chars")
    pod_labels = ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
    for labels in (meta.get("labels") or {}, pod_labels or {}):
        for key, value in labels.items():
            if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
                errs.append(f"label {key}={value!r} is not a valid label value")
    return errs


def check_settings(obj: dict[str, Any]) -> list[str]:
    """The worker ConfigMap's config.yaml must load as catmatch Settings, no unknown keys."""
    sys.path.insert(0, str(REPO))
    from pydantic import BaseModel, ValidationError

    from core.settings import Settings

    data = yaml.safe_load(obj["data"]["config.yaml"]) or {}
    errs = []
    for section, values in data.items():
        fld = Settings.model_fields.get(section)
        model = fld.annotation if fld else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            errs.append(f"config.yaml: unknown settings section {section!r}")
            continue
        errs += [
            f"config.yaml: unknown setting {section}.{key}"
            for key in values or {}
            if key not in model.model_fields
        ]
    try:
        Settings.model_validate(data)
    except ValidationError as exc:
        errs += [f"config.yaml: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return errs


def matches(selector: dict[str, str] | None, labels: dict[str, str] | None) -> bool:
    """A non-empty matchLabels ``selector`` selects objects with these ``labels``."""
    if not selector:
        return False
    return all((labels or {}).get(k) == v for k, v in selector.items())


def check_references(objs: list[dict[str, Any]]) -> list[str]:
    """Selectors and names that must point at another rendered object."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    pods = [labels for o in objs if (labels := pod_labels(o)) is not None]
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    errs = []
    for svc in by_kind.get("Service", []):
        if not any(matches(svc["spec"].get("selector"), p) for p in pods):
            errs.append(f"Service/{svc['metadata']['name']}: selector matches no workload")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not any(matches(pdb["spec"]["selector"].get("matchLabels"), p) for p in pods):
            errs.append(
                f"PodDisruptionBudget/{pdb['metadata']['name']}: selector matches no workload"
            )
    for sm in by_kind.get("ServiceMonitor", []):
        svcs = [
            s
            for s in by_kind.get("Service", [])
            if matches(sm["spec"]["selector"].get("matchLabels"), s["metadata"].get("labels"))
        ]
        ports = {p.get("name") for s in svcs for p in s["spec"]["ports"]}
        if not svcs or any(e.get("port") not in ports for e in sm["spec"]["endpoints"]):
            errs.append(f"ServiceMonitor/{sm['metadata']['name']}: no Service with its port")
    made = controller_made(objs)
    for so in by_kind.get("ScaledObject", []):
        ref = so["spec"]["scaleTargetRef"]
        target = (ref.get("kind", "Deployment"), ref["name"])
        if target not in names and target not in made:
            errs.append(f"ScaledObject/{so['metadata']['name']}: target {ref['name']} not rendered")
        for trig in so["spec"]["triggers"]:
            auth = (trig.get("authenticationRef") or {}).get("name")
            if auth and ("TriggerAuthentication", auth) not in names:
                errs.append(
                    f"ScaledObject/{so['metadata']['name']}: no TriggerAuthentication {auth}"
                )
    for sts in by_kind.get("StatefulSet", []):
        if ("Service", sts["spec"].get("serviceName")) not in names:
            errs.append(f"StatefulSet/{sts['metadata']['name']}: serviceName not rendered")
    return errs


# -- Argo CD sync waves ---------------------------------------------------------------------

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
Ref = tuple[str, str]  # (kind, name) of a rendered object


def _ref(obj: dict[str, Any]) -> Ref:
    return obj["kind"], obj["metadata"]["name"]


STANDARD_MODES = ("Standard", "RawDeployment")  # KServe's raw Deployment mode, and its alias


def controller_made(objs: list[dict[str, Any]]) -> dict[Ref, Ref]:
    """Objects an operator makes from a rendered one, as {made: maker}: for an
    InferenceService in KServe's Standard mode, the Deployment ``<name>-predictor`` (KServe
    v0.20 ``constants.PredictorServiceName``; the raw reconciler names the Deployment and its
    Service after it). Such a target exists only once its maker has been reconciled."""
    made: dict[Ref, Ref] = {}
    for obj in objs:
        annotations = obj["metadata"].get("annotations") or {}
        mode = annotations.get("serving.kserve.io/deploymentMode")
        if obj["kind"] == "InferenceService" and mode in STANDARD_MODES:
            name = obj["metadata"]["name"]
            made[("Deployment", f"{name}-predictor")] = ("InferenceService", name)
    return made


def pod_labels(obj: dict[str, Any]) -> dict[str, str] | None:
    """Labels of the pods ``obj`` makes: a workload's template, or an InferenceService's
    predictor (its ``labels`` plus the one KServe puts on every pod of the service)."""
    if obj["kind"] in WORKLOADS:
        return dict(obj["spec"]["template"]["metadata"].get("labels") or {})
    if obj["kind"] == "InferenceService":
        labels = dict(obj["spec"].get("predictor", {}).get("labels") or {})
        return labels | {"serving.kserve.io/inferenceservice": obj["metadata"]["name"]}
    return None


def _pod_spec_refs(spec: dict[str, Any]) -> list[Ref]:
    """The ServiceAccount, ConfigMaps, Secrets and claims a pod spec names."""
    refs: list[Ref] = [("ServiceAccount", spec.get("serviceAccountName") or "default")]
    for vol in spec.get("volumes") or []:
        if "configMap" in vol:
            refs.append(("ConfigMap", vol["configMap"]["name"]))
        if "secret" in vol:
            refs.append(("Secret", vol["secret"]["secretName"]))
        if "persistentVolumeClaim" in vol:
            refs.append(("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"]))
    for container in spec.get("containers") or []:
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "secretKeyRef" in source:
                refs.append(("Secret", source["secretKeyRef"]["name"]))
            if "configMapKeyRef" in source:
                refs.append(("ConfigMap", source["configMapKeyRef"]["name"]))
            value = str(env.get("value") or "")
            if env.get("name") == "STORAGE_URI" and value.startswith("pvc://"):
                claim = value.removeprefix("pvc://").split("/", 1)[0]
                refs.append(("PersistentVolumeClaim", claim))
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                refs.append(("Secret", source["secretRef"]["name"]))
            if "configMapRef" in source:
                refs.append(("ConfigMap", source["configMapRef"]["name"]))
    return refs


def dependencies(objs: list[dict[str, Any]]) -> list[tuple[Ref, Ref]]:
    """(object, what it refers to) for every reference between rendered objects: a
    ScaledObject's target (or the InferenceService whose operator makes it) and
    TriggerAuthentication, a TriggerAuthentication's Secrets, the
    pods a PDB, Service or PodMonitor selects, the Services a ServiceMonitor selects, and the
    ServiceAccount, ConfigMaps, Secrets and claims of every pod. References to objects the
    render does not make (Secrets created by hand, a claim made outside Git) are left out.
    NetworkPolicies and Istio policies select pods too but belong before them (deny
    first), so they are not references here."""
    rendered = {_ref(o) for o in objs}
    made = controller_made(objs)
    owners = [(o, labels) for o in objs if (labels := pod_labels(o)) is not None]
    pairs: list[tuple[Ref, Ref]] = []

    def add_selected(obj: dict[str, Any], selector: dict[str, str] | None) -> None:
        pairs.extend((_ref(obj), _ref(owner)) for owner, lbl in owners if matches(selector, lbl))

    for obj in objs:
        kind, spec = obj["kind"], obj.get("spec") or {}
        if kind == "ScaledObject":
            ref = spec["scaleTargetRef"]
            target = (ref.get("kind", "Deployment"), ref["name"])
            pairs.append((_ref(obj), made.get(target, target)))
            for trigger in spec.get("triggers") or []:
                if auth := (trigger.get("authenticationRef") or {}).get("name"):
                    pairs.append((_ref(obj), (trigger["authenticationRef"].get(
                        "kind", "TriggerAuthentication"), auth)))  # fmt: skip
        elif kind == "TriggerAuthentication":
            pairs += [(_ref(obj), ("Secret", s["name"])) for s in spec.get("secretTargetRef", [])]
        elif kind == "PodDisruptionBudget":
            add_selected(obj, spec["selector"].get("matchLabels"))
        elif kind == "Service":
            add_selected(obj, spec.get("selector"))
        elif kind == "PodMonitor":
            add_selected(obj, spec["selector"].get("matchLabels"))
        elif kind == "ServiceMonitor":
            pairs += [
                (_ref(obj), _ref(svc))
                for svc in objs
                if svc["kind"] == "Service"
                and matches(spec["selector"].get("matchLabels"), svc["metadata"].get("labels"))
            ]
        if kind in WORKLOADS or kind == "Job":
            pairs += [(_ref(obj), r) for r in _pod_spec_refs(spec["template"]["spec"])]
        elif kind == "InferenceService":
            pairs += [(_ref(obj), r) for r in _pod_spec_refs(spec.get("predictor") or {})]
    return [(src, dst) for src, dst in pairs if dst in rendered]


HOOK = "argocd.argoproj.io/hook"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
# Argo CD's phases in the order it runs them; objects without a hook are in Sync. Helm's
# pre-/post- hooks map onto PreSync/PostSync when no Argo CD hook annotation is set.
PHASES = ("PreSync", "Sync", "PostSync")
HELM_PHASES = {"pre-install": "PreSync", "pre-upgrade": "PreSync",
               "post-install": "PostSync", "post-upgrade": "PostSync"}  # fmt: skip


def sync_phase(obj: dict[str, Any]) -> str:
    """The Argo CD phase that applies ``obj``: its hook's (the first named), else Sync."""
    annotations = obj["metadata"].get("annotations") or {}
    if hook := annotations.get(HOOK):
        return str(hook).split(",")[0].strip()
    for helm_hook in str(annotations.get(HELM_HOOK) or "").split(","):
        if phase := HELM_PHASES.get(helm_hook.strip()):
            return phase
    return "Sync"


def sync_wave(obj: dict[str, Any]) -> int | None:
    """The object's Argo CD sync wave, or None without a (valid) annotation."""
    value = (obj["metadata"].get("annotations") or {}).get(SYNC_WAVE)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def check_sync_waves(objs: list[dict[str, Any]]) -> list[str]:
    """Every object carries an explicit sync wave, and none comes before what it refers to:
    Argo CD applies a wave only once the earlier ones are healthy, so an object that waits
    for a later one (a ScaledObject before its Deployment) stops the sync. Hooks run in
    their own phase (a PreSync hook before every wave of the sync proper, so it may refer only
    to earlier hooks); a target that an operator makes from another object (KServe's
    Standard-mode Deployment) exists only after its maker's wave, so the reference must come
    strictly later; a Helm hook's weight must equal its wave, so Helm runs hooks in the
    same order."""
    phases = {_ref(o): sync_phase(o) for o in objs}
    waves = {_ref(o): sync_wave(o) for o in objs}
    errs = [f"{k}/{n}: no {SYNC_WAVE} annotation" for (k, n), w in waves.items() if w is None]
    for obj in objs:
        annotations = obj["metadata"].get("annotations") or {}
        (kind, name), phase = _ref(obj), phases[_ref(obj)]
        if phase not in PHASES:
            errs.append(f"{kind}/{name}: unknown Argo CD hook phase {phase!r}")
        weight = annotations.get(HELM_HOOK_WEIGHT)
        if weight is not None and str(weight) != str(annotations.get(SYNC_WAVE)):
            errs.append(f"{kind}/{name}: {HELM_HOOK_WEIGHT} {weight} is not its sync wave")

    def stage(ref: Ref) -> tuple[int, int]:
        phase = phases[ref]
        return PHASES.index(phase) if phase in PHASES else 1, waves[ref] or 0  # default 0

    def where(ref: Ref) -> str:
        hook = f"{phases[ref]} hook, " if phases[ref] != "Sync" else ""
        return f"{hook}wave {waves[ref] or 0}"

    made = controller_made(objs)
    for src, dst in dependencies(objs):
        if stage(src) < stage(dst):
            errs.append(
                f"{src[0]}/{src[1]} ({where(src)}) refers to {dst[0]}/{dst[1]}, which "
                f"comes later ({where(dst)})"
            )
        elif stage(src) == stage(dst) and src[0] == "ScaledObject" and dst in made.values():
            errs.append(
                f"{src[0]}/{src[1]} ({where(src)}) targets what {dst[0]}/{dst[1]} makes: "
                f"it must come in a later wave, once {dst[0]} is healthy"
            )
    return errs


# -- Argo CD --------------------------------------------------------------------------------


def _allowed(project: dict[str, Any], server: str, namespace: str) -> bool:
    return any(
        fnmatch.fnmatch(server, d.get("server", "*"))
        and fnmatch.fnmatch(namespace, d.get("namespace", "*"))
        for d in project["spec"].get("destinations", [])
    )


def _kind_allowed(rules: list[dict[str, str]], group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatch(group, r["group"]) and fnmatch.fnmatch(kind, r["kind"]) for r in rules
    )


def check_application(
    app: dict[str, Any], projects: dict[str, Any], objs: list[dict[str, Any]]
) -> list[str]:
    """The Application fits its AppProject, and so does everything it renders."""
    spec, errs = app["spec"], []
    project = projects.get(spec.get("project", "default"))
    if project is None:
        return [f"AppProject {spec.get('project')!r} is not in gitops/argocd"]
    src, dest = spec["source"], spec["destination"]
    if not any(fnmatch.fnmatch(src["repoURL"], r) for r in project["spec"]["sourceRepos"]):
        errs.append(f"repoURL {src['repoURL']} not in the project's sourceRepos")
    server = dest.get("server", "")
    cluster_rules = project["spec"].get("clusterResourceWhitelist", [])
    if "CreateNamespace=true" in (spec.get("syncPolicy") or {}).get("syncOptions", []):
        if not _kind_allowed(cluster_rules, "", "Namespace"):
            errs.append("CreateNamespace=true but the project does not allow Namespace")
    for o in objs:
        ns = o["metadata"].get("namespace", dest["namespace"])
        if not _allowed(project, server, ns):
            errs.append(f"{o['kind']}/{o['metadata']['name']}: namespace {ns} not a destination")
        group = o["apiVersion"].rpartition("/")[0]
        if not _kind_allowed(
            project["spec"].get("namespaceResourceWhitelist", []), group, o["kind"]
        ):
            errs.append(f"{o['kind']} ({group or 'core'}) not in namespaceResourceWhitelist")
    return errs


REPOSITORY_LABEL = "argocd.argoproj.io/secret-type"
CREDENTIAL_KEYS = ("password", "sshPrivateKey", "githubAppPrivateKey", "tlsClientCertKey",
                   "azureServicePrincipalClientSecret", "bearerToken")  # fmt: skip


def check_repository_secret(
    secret: dict[str, Any], apps: list[dict[str, Any]], projects: dict[str, Any]
) -> list[str]:
    """A repository Secret template: Argo CD's label, the Applications' repoURL (which every
    project allows), and no credential (the token is filled in outside Git)."""
    meta, data = secret["metadata"], secret.get("stringData") or {}
    errs = []
    if (meta.get("labels") or {}).get(REPOSITORY_LABEL) not in ("repository", "repo-creds"):
        errs.append(f"no {REPOSITORY_LABEL}: repository label, Argo CD would ignore it")
    if meta.get("namespace") != "argocd":
        errs.append(f"namespace {meta.get('namespace')!r}: Argo CD reads only its own")
    if secret.get("data"):
        errs.append("use stringData: base64 `data` hides what is committed")
    url = data.get("url", "")
    for app in apps:
        if app["spec"]["source"]["repoURL"] != url:
            errs.append(f"url {url!r} is not {app['metadata']['name']}'s repoURL")
    for name, project in projects.items():
        if not any(fnmatch.fnmatch(url, r) for r in project["spec"]["sourceRepos"]):
            errs.append(f"url {url!r} not in AppProject {name}'s sourceRepos")
    errs += [f"{key} is set: credentials never go into Git" for key in CREDENTIAL_KEYS
             if data.get(key)]  # fmt: skip
    return errs


def app_render_args(app: dict[str, Any], tmp: Path) -> list[str]:
    """helm flags equivalent to the Application's Helm source."""
    src = app["spec"]["source"]
    base = REPO / src["path"]
    if base.resolve() != CHART.resolve():
        raise SystemExit(f"{app['metadata']['name']}: source.path {src['path']} is not the chart")
    helm = src.get("helm") or {}
    args: list[str] = []
    for vf in helm.get("valueFiles", []):
        path = (base / vf).resolve()
        if not path.is_file() or REPO.resolve() not in path.parents:
            raise SystemExit(f"{app['metadata']['name']}: value file {vf} not in the repository")
        args += ["-f", str(path)]
    if "valuesObject" in helm:
        extra = tmp / f"{app['metadata']['name']}-values.yaml"
        extra.write_text(yaml.safe_dump(helm["valuesObject"]))
        args += ["-f", str(extra)]
    for p in helm.get("parameters", []):
        args += ["--set-string" if p.get("forceString") else "--set", f"{p['name']}={p['value']}"]
    return args


# -- main -----------------------------------------------------------------------------------


@dataclass
class RenderSet:
    """One render of a chart: how helm is called and what else is checked."""

    label: str
    release: str
    namespace: str
    args: list[str]
    app: dict[str, Any] | None = None  # the Argo CD Application that renders it this way
    chart: Path = CHART
    # Argo CD sync waves: the category-match chart only (no Application deploys deploy/kafka).
    waves: bool = True


def render_sets(apps: list[dict[str, Any]], tmp: Path) -> list[RenderSet]:
    """The chart with its defaults, with each ci/*-values.yaml and as each Application
    renders it; the dev Kafka chart with its defaults and each of its ci/*-values.yaml."""
    sets = [RenderSet("default", "category-match", "category-match", [])]
    sets += [
        RenderSet(f"ci:{f.stem}", "category-match", "category-match-ci", ["-f", str(f)])
        for f in sorted((CHART / "ci").glob("*-values.yaml"))
    ]
    for app in apps:
        helm_src = app["spec"]["source"].get("helm") or {}
        sets.append(
            RenderSet(
                f"argocd:{app['metadata']['name']}",
                helm_src.get("releaseName", app["metadata"]["name"]),
                app["spec"]["destination"]["namespace"],
                app_render_args(app, tmp),
                app,
            )
        )
    kafka: list[tuple[str, list[str]]] = [("kafka:default", [])] + [
        (f"kafka:ci:{f.stem}", ["-f", str(f)])
        for f in sorted((KAFKA_CHART / "ci").glob("*-values.yaml"))
    ]
    sets += [
        RenderSet(label, "kafka", "category-match-ci", args, chart=KAFKA_CHART, waves=False)
        for label, args in kafka
    ]
    return sets


def validate(helm: Path, schemas: Schemas, kube: str, verbose: bool = False) -> Report:
    """Render every set and check every object; returns the report."""
    report = Report()
    manifests = [
        d for f in sorted(ARGOCD_DIR.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    projects = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "AppProject"}
    apps = [d for d in manifests if d["kind"] == "Application"]
    with tempfile.TemporaryDirectory() as tmp:
        notes = {c: notes_chart(Path(tmp), c) for c in (CHART, KAFKA_CHART)}
        for rs in render_sets(apps, Path(tmp)):
            before = len(report.errors)
            objs = helm_render(helm, rs.release, rs.namespace, rs.args, kube, report, rs.chart)
            if objs:
                try:
                    if not helm_notes(helm, notes[rs.chart], rs.release, rs.namespace,
                                      rs.args).strip():  # fmt: skip
                        report.errors.append("NOTES.txt renders empty")
                except subprocess.CalledProcessError as exc:
                    report.errors.append(f"NOTES.txt: {exc.stderr.strip()}")
            for o in objs:
                where = f"{o.get('kind')}/{(o.get('metadata') or {}).get('name')}"
                report.errors += [f"{where}: {e}" for e in check_object(o, schemas)]
                if o.get("kind") == "ConfigMap" and "config.yaml" in (o.get("data") or {}):
                    report.errors += [f"{where}: {e}" for e in check_settings(o)]
            report.errors += check_references(objs)
            if rs.waves:
                report.errors += check_sync_waves(objs)
            if rs.app is not None:
                report.errors += check_application(rs.app, projects, objs)
            report.errors[before:] = [f"[{rs.label}] {e}" for e in report.errors[before:]]
            report.kinds[rs.label] = Counter(o["kind"] for o in objs)
        report.kinds["gitops"] = Counter(d["kind"] for d in manifests)
        for d in manifests:
            where = f"[gitops] {d['kind']}/{d['metadata']['name']}"
            report.errors += [f"{where}: {e}" for e in check_object(d, schemas)]
            if d["kind"] == "Secret":
                errs = check_repository_secret(d, apps, projects)
                report.errors += [f"{where}: {e}" for e in errs]
    if verbose:
        for label, kinds in report.kinds.items():
            print(f"  {label}: {dict(sorted(kinds.items()))}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--helm", type=Path, help="helm binary (default: scripts/install_helm.sh)")
    parser.add_argument("--kube-version", default="1.31", help="Kubernetes schema version")
    parser.add_argument("--crd-schemas", help="custom-resource schema dir (../shared/k8s-schemas)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list kinds per render set")
    args = parser.parse_args(argv)
    helm = args.helm or install_helm()
    schemas = Schemas(args.kube_version, crd_schema_dir(args.crd_schemas))
    report = validate(helm, schemas, args.kube_version, args.verbose)
    total = sum(sum(k.values()) for k in report.kinds.values())
    sets = ", ".join(f"{label}={sum(k.values())}" for label, k in report.kinds.items())
    for err in report.errors:
        print(f"ERROR {err}", file=sys.stderr)
    status = f"{len(report.errors)} error(s)" if report.errors else "all valid"
    print(f"validated {total} objects (Kubernetes {args.kube_version}; {sets}): {status}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
