"""What the cluster is built from: releases on the Go module proxy, pinned.

The fixes for what the proxy refuses are the ``replace`` overrides (checked 2026-12-07):
- k8s.io/endpointslice v0.32.13: its .mod is served, its zip is refused (403); v0.32.12
  builds and runs.
- KEDA v2.21.0: nexus-proto-annotations v0.1.0 is refused; the pseudo-version is served.
- Argo CD v3.5.7 replaces gitops-engine with ./gitops-engine (not in the module zip) and
  the version it pins is refused; this pseudo-version (the same k8s v0.36.1) compiles.
"""

from __future__ import annotations

from localkube.gobuild import GoTarget

K8S_VERSION = "v1.32.13"
_K8S = "k8s.io/kubernetes/cmd/"
_VERSION_PKG = "k8s.io/component-base/version"

KUBERNETES = GoTarget(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=K8S_VERSION,
    binaries={
        "kube-apiserver": _K8S + "kube-apiserver",
        "kubectl": _K8S + "kubectl",
        "kubelet": _K8S + "kubelet",
        "kube-controller-manager": _K8S + "kube-controller-manager",
        "kube-scheduler": _K8S + "kube-scheduler",
        "kube-proxy": _K8S + "kube-proxy",
    },
    staging="v0." + K8S_VERSION.split(".", 1)[1],
    replace={"k8s.io/endpointslice": "k8s.io/endpointslice@v0.32.12"},
    ldflags=(
        f"-X {_VERSION_PKG}.gitVersion=v{{version}} -X {_VERSION_PKG}.gitMajor=1 "
        f"-X {_VERSION_PKG}.gitMinor=32 -X {_VERSION_PKG}.gitTreeState=clean "
        f"-X {_VERSION_PKG}.buildDate={{date}}"
    ),
)
NODE_BINARIES = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy")

COREDNS = GoTarget(
    name="coredns",
    module="github.com/coredns/coredns",
    version="v1.15.0",
    binaries={"coredns": "github.com/coredns/coredns"},
)

KSERVE = GoTarget(
    name="kserve",
    module="github.com/kserve/kserve",
    version="v0.20.0",
    binaries={"kserve-manager": "github.com/kserve/kserve/cmd/manager"},
)

_KNATIVE = "knative.dev/serving/cmd/"
KNATIVE = GoTarget(
    name="knative-serving",
    module="knative.dev/serving",
    version="v0.50.0",
    binaries={
        f"knative-{n}": _KNATIVE + n
        for n in ("controller", "webhook", "activator", "autoscaler", "queue")
    },
)

_KEDA = "github.com/kedacore/keda/v2/cmd/"
KEDA = GoTarget(
    name="keda",
    module="github.com/kedacore/keda/v2",
    version="v2.21.0",
    binaries={f"keda-{n}": _KEDA + n for n in ("operator", "adapter", "webhooks")},
    replace={
        "github.com/nexus-rpc/nexus-proto-annotations@v0.1.0": (
            "github.com/nexus-rpc/nexus-proto-annotations@v0.1.1-0.20260629224316-835bd8d49cb4"
        )
    },
    ldflags="-X github.com/kedacore/keda/v2/version.Version={version}",
    go_min=(1, 26),
)

ARGOCD = GoTarget(
    name="argo-cd",
    module="github.com/argoproj/argo-cd/v3",
    version="v3.5.7",
    # One binary; argocd-application-controller, -repo-server, -server are argv[0] symlinks.
    binaries={"argocd": "github.com/argoproj/argo-cd/v3/cmd"},
    replace={
        "github.com/argoproj/argo-cd/gitops-engine": (
            "github.com/argoproj/argo-cd/gitops-engine@v0.0.0-20260914071520-c9c369efcc5b"
        )
    },
    ldflags="-X github.com/argoproj/argo-cd/v3/common.version={version}",
)

CLUSTER = (KUBERNETES, COREDNS)
OPERATORS = (KSERVE, KNATIVE, KEDA, ARGOCD)
ALL = {t.name: t for t in (*CLUSTER, *OPERATORS)}
