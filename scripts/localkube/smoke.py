"""The smoke check of ``up --check``: a pod from the local Debian base answers on a
Service through kube-proxy (from another pod and from the host), and that pod resolves
``kubernetes.default.svc.cluster.local`` through CoreDNS."""

from __future__ import annotations

import json
import time
import urllib.request

from localkube import images, manifests
from localkube.node import Node
from localkube.proc import NotReady, log

TIMEOUT_S = 120.0


def check(node: Node) -> dict[str, float]:
    started = time.monotonic()
    ns = manifests.SMOKE_NAMESPACE
    objects = manifests.smoke(images.BASE_IMAGE, node.lay.api_service_ip)
    server, client = objects[:-1], objects[-1:]
    node.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=true", timeout=180)
    node.kubectl("apply", "-f", "-", stdin=manifests.as_list(server))
    out = node.kubectl(
        "-n", ns, "wait", "pod/smoke-server", "--for=condition=Ready",
        f"--timeout={TIMEOUT_S:.0f}s", check=False, timeout=TIMEOUT_S + 30,
    )  # fmt: skip
    if out.returncode:
        raise NotReady(f"smoke-server not Ready: {out.stderr}\n{_describe(node, 'smoke-server')}")
    server_ready = time.monotonic()
    ip = node.kubectl("-n", ns, "get", "service", "smoke", "-o", "jsonpath={.spec.clusterIP}")
    from_host = _get(f"http://{ip.stdout.strip()}/", deadline=time.monotonic() + 30)
    node.kubectl("apply", "-f", "-", stdin=manifests.as_list(client))
    deadline = time.monotonic() + TIMEOUT_S
    phase = ""
    while time.monotonic() < deadline:
        got = node.kubectl("-n", ns, "get", "pod", "smoke-client", "-o", "json", check=False)
        phase = json.loads(got.stdout)["status"].get("phase", "") if not got.returncode else ""
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    logs = node.kubectl("-n", ns, "logs", "smoke-client", check=False).stdout.strip()
    if phase != "Succeeded":
        raise NotReady(
            f"smoke-client ended {phase or 'nowhere'}: {logs}\n{_describe(node, 'smoke-client')}"
        )
    log(f"smoke: host -> Service {ip.stdout.strip()}: HTTP {from_host}; pod: {logs}")
    node.kubectl("delete", "namespace", ns, "--wait=false")
    return {
        "server_ready_s": round(server_ready - started, 1),
        "total_s": round(time.monotonic() - started, 1),
    }


def _get(url: str, deadline: float) -> int:
    """From the host through kube-proxy's OUTPUT rules (retried while they sync)."""
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 (a ClusterIP)
                return int(resp.status)
        except OSError as exc:
            last = str(exc)
            time.sleep(0.5)
    raise NotReady(f"{url} did not answer from the host: {last}")


def _describe(node: Node, pod: str) -> str:
    ns = manifests.SMOKE_NAMESPACE
    return node.kubectl("-n", ns, "describe", "pod", pod, check=False).stdout[-3000:]
