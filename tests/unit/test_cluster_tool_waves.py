"""tests/cluster/waves.py, the check the Argo CD cluster test applies to each sync: every
wave Healthy before the next one starts. Proven here on renders of the chart, through a
small model of a sync: the current layout passes, the layout of issue 16's defect 1 (the
workers' ScaledObject in wave 0, before the workers of wave 1) fails."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.cluster import waves
from tests.fixtures.tools import load_script

REPO = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def vm() -> ModuleType:
    return load_script("validate_manifests")


@pytest.fixture(scope="module")
def ops_render(vm: ModuleType) -> list[Obj]:
    """The chart as the ops Application renders it, the Sync phase only (hooks apart)."""
    import subprocess

    helm = vm.install_helm()
    out = subprocess.run(
        [str(helm), "template", "category-match", str(REPO / "deploy/helm/category-match"),
         "-n", "category-match-ops", "-f", str(REPO / "gitops/values/ops.yaml")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    objs = [d for d in yaml.safe_load_all(out.stdout) if d]
    return [o for o in objs if vm.sync_phase(o) == "Sync"]


def key(obj: Obj) -> waves.Key:
    return obj["kind"], obj["metadata"].get("namespace") or "", obj["metadata"]["name"]


def simulate(
    vm: ModuleType, objs: list[Obj], *, gate: bool, steps: int = 40
) -> list[waves.Snapshot]:
    """A sync, one step at a time: an object turns Healthy the step after everything it
    refers to exists (validate_manifests.dependencies; a target an operator makes exists once
    its maker is Healthy). ``gate``: apply a wave only when the earlier ones are Healthy (as
    Argo CD does); otherwise apply everything at once (as ``kubectl apply`` would). While an
    object waits for a missing target it reports Degraded, as KEDA's ScaledObject does."""
    wave = {key(o): vm.sync_wave(o) or 0 for o in objs}
    by_ref = {(o["kind"], o["metadata"]["name"]): key(o) for o in objs}
    made = vm.controller_made(objs)
    needs: dict[waves.Key, list[tuple[str, str]]] = {k: [] for k in wave}
    for src, dst in vm.dependencies(objs):
        if src in by_ref:
            needs[by_ref[src]].append(dst)
    exists: set[waves.Key] = set()
    healthy: set[waves.Key] = set()
    snaps = []

    def there(ref: tuple[str, str]) -> bool:
        if ref in made:  # e.g. KServe's Deployment: there once its InferenceService is
            return by_ref[made[ref]] in healthy
        return by_ref.get(ref) in exists

    for step in range(steps):
        pending = sorted({wave[k] for k in wave if k not in exists})
        if pending:
            nxt = pending[0]
            if not gate:
                exists |= set(wave)
            elif all(k in healthy for k in wave if wave[k] < nxt):
                exists |= {k for k in wave if wave[k] == nxt}
        ready = {k for k in exists if all(there(d) for d in needs[k])}
        state = {k: (wave[k], waves.HEALTHY if k in healthy else
                     "Degraded" if k in exists and k not in ready else
                     "Progressing" if k in exists else waves.MISSING) for k in wave}  # fmt: skip
        snaps.append(waves.Snapshot(float(step), state))
        healthy |= ready
    return snaps


def old_layout(objs: list[Obj]) -> list[Obj]:
    """The workers' ScaledObject without its wave annotation, i.e. wave 0 (issue 16)."""
    out = yaml.safe_load(yaml.safe_dump(objs))
    for obj in out:
        if obj["kind"] == "ScaledObject" and obj["metadata"]["name"] == "category-match-worker":
            obj["metadata"]["annotations"].pop("argocd.argoproj.io/sync-wave")
    return out


def test_the_chart_as_ops_renders_it_syncs_in_wave_order(vm, ops_render) -> None:
    report = waves.check(simulate(vm, ops_render, gate=True))
    assert report.errors == []
    assert "ScaledObject/category-match-worker" in report.waves[2]
    assert "Deployment/category-match-worker" in report.waves[1]


@pytest.mark.parametrize("gate", [True, False], ids=["argo-cd-stops", "applied-at-once"])
def test_the_old_layout_fails_the_check(vm, ops_render, gate: bool) -> None:
    objs = old_layout(ops_render)
    assert "ScaledObject/category-match-worker (wave 0) refers to Deployment/category-match-" \
        "worker, which comes later (wave 1)" in vm.check_sync_waves(objs)
    report = waves.check(simulate(vm, objs, gate=gate))
    assert report.errors, "the old layout passed"
    if gate:  # Argo CD never gets past wave 0: the ScaledObject waits for its target
        assert "ScaledObject/category-match-worker (wave 0) never Healthy (last Degraded)" \
            in report.errors
        assert "Deployment/category-match-worker (wave 1) never Healthy (never created)" \
            in report.errors
    else:  # the workers of wave 1 exist while the ScaledObject of wave 0 is not Healthy
        assert any(e.startswith("Deployment/category-match-worker (wave 1) existed while "
                                "ScaledObject/category-match-worker (wave 0)")
                   for e in report.errors), report.errors  # fmt: skip


def test_a_snapshot_is_read_from_argo_cds_application_status() -> None:
    app = {"status": {"operationState": {"phase": "Running"}, "resources": [
        {"kind": "StatefulSet", "namespace": "ns", "name": "w", "syncWave": 1,
         "health": {"status": "Progressing"}},
        {"kind": "ConfigMap", "namespace": "ns", "name": "c", "syncWave": -2, "status": "Synced"},
        {"kind": "Secret", "namespace": "ns", "name": "s", "syncWave": 0, "status": "Synced"},
        {"kind": "Job", "namespace": "ns", "name": "topics", "syncWave": -1, "hook": True},
        {"kind": "ServiceAccount", "namespace": "ns", "name": "w", "syncWave": 1,
         "status": "OutOfSync"},
        {"kind": "ScaledObject", "namespace": "ns", "name": "w", "syncWave": 2,
         "health": {"status": "Missing"}},
    ]}}  # fmt: skip
    snap = waves.from_application(app, 5.0)
    assert snap.phase == "Running"
    # no health check: made (and Healthy) once Synced, Missing before
    assert snap.resources[("ConfigMap", "ns", "c")] == (-2, waves.HEALTHY)
    assert snap.resources[("ServiceAccount", "ns", "w")] == (1, waves.MISSING)
    assert ("Job", "ns", "topics") not in snap.resources  # a hook: checked by its own phase
    assert snap.resources[("StatefulSet", "ns", "w")] == (1, "Progressing")
    report = waves.check([snap])
    assert report.errors == [
        "StatefulSet/w (wave 1) never Healthy (last Progressing)",
        "ServiceAccount/w (wave 1) never Healthy (never created)",
        "ScaledObject/w (wave 2) never Healthy (never created)",
    ]


def test_a_wave_that_started_too_soon_is_named_once() -> None:
    a, b = ("ConfigMap", "n", "a"), ("Deployment", "n", "b")
    snaps = [waves.Snapshot(t, {a: (0, h1), b: (1, h2)}) for t, h1, h2 in (
        (0.0, "Progressing", waves.MISSING), (1.0, "Progressing", "Progressing"),
        (2.0, "Progressing", waves.HEALTHY), (3.0, waves.HEALTHY, waves.HEALTHY))]  # fmt: skip
    report = waves.check(snaps)
    assert report.errors == [
        "Deployment/b (wave 1) existed while ConfigMap/a (wave 0) was not yet Healthy: "
        "wave 1 started too soon"
    ]
    timeline = report.wave_timeline(0.0)
    assert timeline == {"0": {"first_created_s": 0.0, "all_healthy_s": 3.0},
                        "1": {"first_created_s": 1.0, "all_healthy_s": 2.0}}  # fmt: skip
