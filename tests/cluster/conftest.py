"""The real node with the operators and the chart on it, once per session.

Runs only with ``CATMATCH_CLUSTER=1`` and as root (``make test-cluster``); every test module
here skips itself otherwise. The node comes up (or is reused when it runs), KServe's
controller and KEDA are installed, then the dev Kafka and the chart with
``ci/node-values.yaml``. At the end everything is uninstalled and the node goes ``down``,
unless ``CATMATCH_CLUSTER_KEEP=1`` (then it all stays, for a look with kubectl).

The figures the tests measure (bring-up, install, products, scaling) are collected in
:data:`FIGURES`, printed at the end of the run and written to
``~/.cache/category-match/cluster-figures.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from localkube import keda, kserve, paths, release  # noqa: E402
from localkube.node import Node  # noqa: E402
from localkube.proc import log  # noqa: E402
from localkube.render import Layout  # noqa: E402

from tests.cluster.hostkafka import in_cluster_names_command  # noqa: E402

FIGURES: dict[str, Any] = {}
KAFKA_NAME = f"kafka.{release.NAMESPACE}.svc.cluster.local"
# The modules share one node and one release, and each leaves it as the next expects: the
# release checked and loaded first, then the faults, the autoscaling, the alerts; Argo CD
# (which replaces the chart's release with its own) and Knative last.
ORDER = ("test_operators", "test_pipeline", "test_drills", "test_autoscaling",
         "test_prometheus", "test_argocd", "test_knative")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return ORDER.index(module) if module in ORDER else len(ORDER)

    items.sort(key=rank)  # stable: the order inside a module stays


def enabled() -> bool:
    return bool(os.environ.get("CATMATCH_CLUSTER"))


def figure(name: str, value: object) -> None:
    FIGURES[name] = value
    log(f"{name} = {value}", "figures")


@pytest.fixture(scope="session")
def node() -> Iterator[Node]:
    if os.geteuid() != 0:
        pytest.skip("the node needs root")
    node = Node(Layout(run=paths.RUN))
    started = time.monotonic()
    node.up()
    figure("node_up_s", round(time.monotonic() - started, 1))
    try:
        yield node
    finally:
        if os.environ.get("CATMATCH_CLUSTER_KEEP"):
            admin = node.lay.kubeconfig("admin")
            log(f"CATMATCH_CLUSTER_KEEP: left running; export KUBECONFIG={admin}")
        else:
            _teardown(node)


def _teardown(node: Node) -> None:
    started = time.monotonic()
    try:
        if node.running("kube-apiserver"):
            release.uninstall(node)
            kserve.uninstall(node)
            keda.uninstall(node)
    finally:
        node.down()
    figure("teardown_s", round(time.monotonic() - started, 1))


@pytest.fixture(scope="session")
def operators(node: Node) -> dict[str, float]:
    """KServe's controller and KEDA, installed and answering."""
    steps: dict[str, float] = {}
    for name, install in (("kserve", kserve.install), ("keda", keda.install)):
        started = time.monotonic()
        done = install(node)
        steps |= {f"{name}_{k}": v for k, v in done.items()}
        figure(f"{name}_bring_up_s", round(time.monotonic() - started, 1))
        figure(f"{name}_steps", done)
    return steps


@pytest.fixture(scope="session")
def installed(node: Node, operators: dict[str, float]) -> dict[str, float]:
    """The dev Kafka and the chart, every part ready (release.wait_ready)."""
    started = time.monotonic()
    steps = release.install(node)
    figure("install_to_ready_s", round(time.monotonic() - started, 1))
    figure("install_steps", steps)
    return steps


@pytest.fixture(scope="session")
def kafka_command(node: Node, installed: dict[str, float], tmp_path_factory: pytest.TempPathFactory
                  ) -> Callable[[list[str]], list[str]]:  # fmt: skip
    """``argv`` -> the command that runs it with the broker's advertised name resolving to
    the Service's ClusterIP (tests/cluster/hostkafka.py says why)."""
    ip = node.kubectl("-n", release.NAMESPACE, "get", "service", "kafka", "-o",
                      "jsonpath={.spec.clusterIP}").stdout.strip()  # fmt: skip
    hosts = tmp_path_factory.mktemp("hosts") / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{ip} {KAFKA_NAME} kafka.{release.NAMESPACE}.svc\n")
    return lambda argv: in_cluster_names_command(hosts, argv)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("figures measured on the node")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name:<34} {json.dumps(value)}")
    out = paths.ROOT / "cluster-figures.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg": os.getloadavg(), **FIGURES}
    out.write_text(json.dumps(record, indent=2) + "\n")
    terminalreporter.write_line(f"(written to {out})")
