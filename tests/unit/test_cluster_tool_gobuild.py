"""scripts/localkube/gobuild.py: the replace lines a wrapper module carries, and the records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from localkube import gobuild, paths, targets  # noqa: E402
from localkube.gobuild import Replace, derive_replaces, parse_replaces  # noqa: E402

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.23.0

require (
\tk8s.io/api v0.0.0
\tk8s.io/endpointslice v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api // the staging copy
\tk8s.io/endpointslice => ./staging/src/k8s.io/endpointslice
\tk8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver
)
"""

OPERATOR_GO_MOD = """module github.com/example/operator

replace github.com/argoproj/argo-cd/gitops-engine => ./gitops-engine

replace (
\tk8s.io/api => k8s.io/api v0.36.1
\tgithub.com/old/fork v1.2.0 => github.com/new/fork v1.2.1 // pinned fork
)

replace sigs.k8s.io/controller-runtime => sigs.k8s.io/controller-runtime v0.22.4
"""


def test_parse_reads_block_and_single_line_forms() -> None:
    got = parse_replaces(OPERATOR_GO_MOD)
    assert got == [
        Replace("github.com/argoproj/argo-cd/gitops-engine", None, "./gitops-engine", None),
        Replace("k8s.io/api", None, "k8s.io/api", "v0.36.1"),
        Replace("github.com/old/fork", "v1.2.0", "github.com/new/fork", "v1.2.1"),
        Replace(
            "sigs.k8s.io/controller-runtime", None, "sigs.k8s.io/controller-runtime", "v0.22.4"
        ),
    ]
    assert got[0].local and not got[1].local
    assert got[2].line() == "github.com/old/fork v1.2.0 => github.com/new/fork v1.2.1"


def test_parse_ignores_requires_and_comments() -> None:
    text = "module m\n// replace a => b v1\nrequire x v1.0.0\n"
    assert parse_replaces(text) == []


def test_staging_replaces_become_the_release_and_overrides_win() -> None:
    got = derive_replaces(
        KUBERNETES_GO_MOD,
        staging="v0.32.13",
        overrides={"k8s.io/endpointslice": "k8s.io/endpointslice@v0.32.12"},
    )
    lines = [r.line() for r in got]
    assert lines == [
        "k8s.io/api => k8s.io/api v0.32.13",
        "k8s.io/sample-apiserver => k8s.io/sample-apiserver v0.32.13",
        "k8s.io/endpointslice => k8s.io/endpointslice v0.32.12",  # the zip of .13 is refused
    ]


def test_a_local_replace_without_an_override_is_refused() -> None:
    with pytest.raises(ValueError, match="gitops-engine"):
        derive_replaces(OPERATOR_GO_MOD)


def test_versioned_replaces_are_copied_and_an_override_resolves_a_local_one() -> None:
    got = derive_replaces(OPERATOR_GO_MOD, overrides=dict(targets.ARGOCD.replace))
    lines = [r.line() for r in got]
    assert "k8s.io/api => k8s.io/api v0.36.1" in lines
    assert "github.com/old/fork v1.2.0 => github.com/new/fork v1.2.1" in lines
    assert lines[-1] == (
        "github.com/argoproj/argo-cd/gitops-engine => "
        "github.com/argoproj/argo-cd/gitops-engine v0.0.0-20260914071520-c9c369efcc5b"
    )
    assert not any(r.local for r in got)


def test_an_override_with_an_old_version_is_added() -> None:
    got = derive_replaces("module m\n", overrides=dict(targets.KEDA.replace))
    assert [r.line() for r in got] == [
        "github.com/nexus-rpc/nexus-proto-annotations v0.1.0 => "
        "github.com/nexus-rpc/nexus-proto-annotations v0.1.1-0.20260629224316-835bd8d49cb4"
    ]


def test_an_override_needs_a_version() -> None:
    with pytest.raises(ValueError, match="@version"):
        derive_replaces("module m\n", overrides={"a": "b"})


def test_wrapper_module_requires_the_release_with_its_replaces() -> None:
    rep = [Replace("k8s.io/api", None, "k8s.io/api", "v0.32.13")]
    text = gobuild.wrapper_go_mod(targets.KUBERNETES, rep)
    assert text.startswith("module catmatch.local/build/kubernetes-v1.32.13\n")
    assert "\ngo 1.23\n" in text
    assert "require k8s.io/kubernetes v1.32.13\n" in text
    assert "replace (\n\tk8s.io/api => k8s.io/api v0.32.13\n)\n" in text
    assert "replace" not in gobuild.wrapper_go_mod(targets.COREDNS, [])


def test_tools_go_is_behind_a_build_tag_and_sorted() -> None:
    text = gobuild.tools_go(["b/cmd/y", "a/cmd/x", "b/cmd/y"])
    assert text.startswith("//go:build tools\n\npackage tools\n")
    assert text.index('"a/cmd/x"') < text.index('"b/cmd/y"')
    assert text.count('"b/cmd/y"') == 1


def test_targets_name_what_the_cluster_and_the_operators_need() -> None:
    assert set(targets.KUBERNETES.binaries) == {
        "kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
        "kube-proxy", "kubectl",
    }
    assert set(targets.NODE_BINARIES) <= set(targets.KUBERNETES.binaries)
    assert targets.KUBERNETES.staging == "v0.32.13"
    flags = targets.KUBERNETES.ldflags.format(version="1.32.13", date="2026-01-01T00:00:00Z")
    assert "version.gitVersion=v1.32.13" in flags and "buildDate=2026-01-01" in flags
    assert len(targets.KNATIVE.binaries) == 5 and len(targets.KEDA.binaries) == 3
    assert targets.KEDA.go_min == (1, 26)
    keys = [t.key for t in targets.ALL.values()]
    assert len(keys) == len(set(keys))
    for target in targets.ALL.values():
        names = list(target.binaries)
        assert len(names) == len(set(names))
        derive_replaces("module m\n", overrides=dict(target.replace))  # each override parses


def test_records_append_and_keep_the_newest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(paths, "BUILDS_JSON", tmp_path / "builds.json")
    monkeypatch.setattr(gobuild, "KEEP_RECORDS", 3)
    for n in range(5):
        gobuild.record({"target": f"t{n}", "wall_s": n})
    data = json.loads((tmp_path / "builds.json").read_text())
    assert [r["target"] for r in data["builds"]] == ["t2", "t3", "t4"]
    assert gobuild.records()[-1]["wall_s"] == 4


def test_built_needs_every_binary_and_the_build_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(paths, "K8S", tmp_path)
    dest = gobuild.target_dir(targets.KUBERNETES)
    dest.mkdir()
    for name in ("kube-apiserver", "kubectl"):
        (dest / name).write_text("")
        (dest / name).chmod(0o755)
    assert gobuild.built(targets.KUBERNETES, ["kubectl"]) == {}  # no build.json yet
    (dest / "build.json").write_text("{}")
    assert set(gobuild.built(targets.KUBERNETES, ["kube-apiserver", "kubectl"])) == {
        "kube-apiserver", "kubectl",
    }
    assert gobuild.built(targets.KUBERNETES) == {}  # the node's binaries are missing


def test_ensure_refuses_an_unknown_binary() -> None:
    with pytest.raises(ValueError, match="builds no"):
        gobuild.ensure(targets.COREDNS, ["kubelet"])


def test_go_env_shares_one_cache_and_builds_static(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOPROXY", raising=False)
    env = gobuild.go_env()
    assert env["GOMODCACHE"] == str(paths.GO / "mod")
    assert env["GOCACHE"] == str(paths.GO / "cache")
    assert env["CGO_ENABLED"] == "0" and env["GOWORK"] == "off"
    assert env["GOPROXY"].startswith("https://proxy.golang.org")
    url = gobuild.proxy_url(env, "github.com/Azure/x", "v1.0.0")
    assert url == "https://proxy.golang.org/github.com/!azure/x/@v/v1.0.0.info"
