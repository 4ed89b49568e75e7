"""The operators on the node: KServe's controller and KEDA, from the binaries built here.

``scripts/cluster.py operators`` (and the cluster tests) call :func:`install`: each
operator's binaries become one-binary images (umoci + skopeo, as CoreDNS's), imported into
the node's containerd; its upstream CRDs, RBAC and Deployments come from its Go module
(:mod:`localkube.upstream`), changed only where this node needs it (local images pulled
never, no cert-manager, no leader election, short probe delays); its certificates are made
with openssl (:mod:`localkube.svccerts`). :mod:`localkube.kserve` and :mod:`localkube.keda`
hold what is specific to each (and its ``install``). Every wait is bounded and names the
component and its log.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from localkube import images
from localkube.node import Node
from localkube.proc import NotReady

Obj = dict[str, Any]
READY_S = 180.0
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    """A namespace that enforces Pod Security ``restricted`` (every pod here meets it)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**RESTRICTED, **(labels or {})}},
    }


def operator_image(name: str, binary: Path, user: str = "65532:65532") -> images.Archive:
    """A one-binary image ``localhost/catmatch/<name>:<digest of the binary>`` (cached).

    The tag follows the binary's size and time, so a rebuilt operator gets a new image.
    """
    stat = binary.stat()
    tag = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    ref = f"localhost/catmatch/{name}:{tag}"
    out = images.archive_dir() / f"{name}-{tag}.tar"
    return images.binary_image(ref, binary, f"/{binary.name}", [f"/{binary.name}"], user, out)


def load_images(node: Node, archives: Iterable[images.Archive]) -> None:
    for archive in archives:
        images.import_archive(node.lay.containerd_sock, archive)


def as_list(objects: Iterable[Obj]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}) + "\n"


def apply(node: Node, objects: list[Obj], manager: str) -> None:
    """Server-side apply (several CRDs exceed the 256 KiB of a client-side apply)."""
    node.kubectl(
        "apply", "--server-side", "--force-conflicts", f"--field-manager={manager}", "-f", "-",
        stdin=as_list(objects), timeout=180,
    )  # fmt: skip


def wait_crds(node: Node, names: list[str], timeout: float = 60) -> None:
    """Every CRD Established (``kubectl wait`` fails instead of waiting while a new CRD has
    no conditions yet, so this polls)."""

    def pending() -> str:
        out = node.kubectl("get", "crd", *names, "-o", "json", check=False, timeout=30)
        if out.returncode:
            return out.stderr.strip()[-300:]
        items = json.loads(out.stdout).get("items", [])
        established = {
            crd["metadata"]["name"]
            for crd in items
            for c in crd.get("status", {}).get("conditions") or []
            if c["type"] == "Established" and c["status"] == "True"
        }
        missing = sorted(set(names) - established)
        return f"not Established: {', '.join(missing)}" if missing else ""

    wait_for("CRDs", pending, timeout, "kubectl get crd; the kube-apiserver log")


def wait_deployments(node: Node, ns: str, names: list[str], timeout: float = READY_S) -> None:
    """Every Deployment rolled out, or NotReady naming it, its pods' logs and events."""
    for name in names:
        try:
            node.wait_rollout(ns, f"deployment/{name}", timeout)
        except NotReady as exc:
            logs = node.kubectl("-n", ns, "logs", f"deployment/{name}", "--all-containers",
                                "--tail=30", check=False).stdout  # fmt: skip
            raise NotReady(
                f"{exc}\nlast log lines of {ns}/{name} (kubectl -n {ns} logs deployment/{name}):"
                f"\n{logs}"
            ) from exc


def wait_for(what: str, probe: Callable[[], str], timeout: float, hint: str) -> float:
    """Poll ``probe`` ("" = done) for at most ``timeout`` s; returns the seconds it took."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        last = probe()
        if not last:
            return time.monotonic() - started
        time.sleep(1)
    raise NotReady(f"{what} not ready within {timeout:.0f} s ({last}); see {hint}")


def local_image(container: Obj, image: str) -> None:
    """A container of an upstream manifest on this node's image, never pulled."""
    container["image"] = image
    container["imagePullPolicy"] = "Never"


def short_probes(container: Obj, delay: int = 2) -> None:
    """Upstream waits 20-30 s before the first probe, for clusters slower to schedule."""
    for probe in ("livenessProbe", "readinessProbe"):
        if probe in container:
            container[probe]["initialDelaySeconds"] = delay
            container[probe]["periodSeconds"] = 2 if probe == "readinessProbe" else 10


def drop_arg(container: Obj, arg: str) -> None:
    container["args"] = [a for a in container.get("args", []) if a != arg]


def delete(node: Node, objects: list[Obj], timeout: float = 120) -> None:
    """Delete ``objects``: webhook configurations and APIServices first (a registration whose
    server is gone fails or slows every call it covers), CRDs and namespaces last."""
    first = {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"}
    last = {"CustomResourceDefinition", "Namespace"}
    ordered = [o for o in objects if o["kind"] in first]
    ordered += [o for o in objects if o["kind"] not in first | last]
    ordered += [o for o in objects if o["kind"] in last]
    out = node.kubectl(
        "delete", "--ignore-not-found", "--wait=true", f"--timeout={timeout:.0f}s", "-f", "-",
        stdin=as_list(ordered), check=False, timeout=timeout + 30,
    )  # fmt: skip
    if out.returncode:
        raise NotReady(f"deleting {len(ordered)} objects failed: {out.stderr.strip()[-1000:]}")
