"""Shared steps of the cluster tests: kubectl reads, and products sent from this machine
(tests/cluster/hostkafka.py, run in its own mount namespace by ``kafka_command``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from localkube import release
from localkube.node import Node

from tests.cluster.conftest import REPO

NS = release.NAMESPACE
PREDICTOR = f"{release.RELEASE}-predictor"
WORKERS = f"{release.RELEASE}-worker"
BOOTSTRAP = f"kafka.{NS}.svc.cluster.local:9092"
Command = Callable[[list[str]], list[str]]


def get(node: Node, *what: str, ns: str = NS) -> dict[str, Any]:
    return dict(json.loads(node.kubectl("-n", ns, "get", *what, "-o", "json").stdout))


def replicas(node: Node, kind: str, name: str, ns: str = NS) -> tuple[int, int]:
    """(spec.replicas, status.readyReplicas) of a Deployment or StatefulSet."""
    obj = get(node, kind, name, ns=ns)
    ready = (obj.get("status") or {}).get("readyReplicas") or 0
    return int(obj["spec"].get("replicas", 0)), int(ready)


def predictor_replicas(node: Node) -> tuple[int, int]:
    """Those of KServe's predictor Deployment (Standard mode)."""
    return replicas(node, "deployment", PREDICTOR)


def roundtrip_argv(count: int, seed: int, timeout: float) -> list[str]:
    return [sys.executable, "-m", "tests.cluster.hostkafka", "roundtrip", "--bootstrap",
            BOOTSTRAP, "--count", str(count), "--seed", str(seed),
            "--timeout", str(timeout)]  # fmt: skip


def stream_argv(count: int, rate: float, seed: int, timeout: float) -> list[str]:
    return [sys.executable, "-m", "tests.cluster.hostkafka", "stream", "--bootstrap",
            BOOTSTRAP, "--count", str(count), "--rate", str(rate), "--seed", str(seed),
            "--timeout", str(timeout)]  # fmt: skip


def start(kafka_command: Command, argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(kafka_command(argv), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float, what: str) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}): {err[-3000:]}"
    return dict(json.loads(out.strip().splitlines()[-1]))


def ready_pods(node: Node, selector: str, ns: str = NS) -> dict[str, str]:
    """{pod name: uid} of the Ready pods matching ``selector`` (not being deleted)."""
    pods = get(node, "pods", "-l", selector, ns=ns)["items"]
    out = {}
    for pod in pods:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = pod.get("status", {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            out[pod["metadata"]["name"]] = pod["metadata"]["uid"]
    return out


def wait_until(what: str, probe: Callable[[], bool], timeout: float, hint: str,
               interval: float = 0.5) -> float:  # fmt: skip
    """Poll ``probe`` until true; returns the epoch time it held, fails naming ``hint``."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"{what} not within {timeout:.0f} s; see {hint}"
        time.sleep(interval)
    return time.time()
