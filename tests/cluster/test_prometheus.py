"""``CatmatchPredictorNotReady`` fires and resolves against the real pods.

A Prometheus on this machine (Debian's ``prometheus``, :mod:`localkube.prometheus`) finds the
release's worker and predictor pods through the node's API server and scrapes them every 5 s;
its rules are the chart's own PrometheusRule, rendered by ``scripts/render_rules.py`` with the
namespace matcher on (the scrape adds the ``namespace`` label, as the chart's monitors do) and
``for: 15s`` instead of the chart's 10 minutes (a cold start is allowed that long in a cluster;
a test cannot wait it out).

The fault is the one the alert is written for: KEDA holds the predictor at zero
(``autoscaling.keda.sh/paused-replicas: "0"``) while products wait, so every worker call is
refused. The alert must go pending, then firing, for the release's namespace; when the pause
is lifted KEDA wakes the predictor on the lag, the workers label every waiting product exactly
once (counted from this machine with a ``read_committed`` reader), and the alert resolves.
Needs root and ``CATMATCH_CLUSTER=1`` (``make test-cluster``).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.conftest import enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube import release  # noqa: E402
from localkube.node import Node  # noqa: E402
from localkube.prometheus import Prometheus, config, write_targets  # noqa: E402

from tests.cluster import flows  # noqa: E402
from tests.fixtures.tools import load_script  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
NS = flows.NS
ALERT = "CatmatchPredictorNotReady"
FOR = "15s"
PAUSE = "autoscaling.keda.sh/paused-replicas"
PRODUCTS = 200


class Discovery:
    """Writes the release's pods as Prometheus' target files every 2 s, in a thread (what
    Kubernetes service discovery would do; localkube.prometheus says why it cannot)."""

    def __init__(self, node: Node, root: Path) -> None:
        self.node, self.root = node, root
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def refresh(self) -> None:
        write_targets(self.root, flows.get(self.node, "pods"))

    def _run(self) -> None:
        while not self._stop.wait(2):
            try:
                self.refresh()
            except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError, KeyError):
                continue  # one failed read: the files keep the last pods

    def __enter__(self) -> Discovery:
        self.refresh()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def prometheus(node: Node, installed: dict[str, float], tmp_path: Path) -> Iterator[Prometheus]:
    render_rules = load_script("render_rules")
    rules = render_rules.write_rule_file(
        tmp_path / "rules.yaml", release.helm_binary(),
        ["metrics.prometheusRule.matchNamespace=true",
         f"metrics.prometheusRule.alerts.predictorNotReady.for={FOR}"],
    )  # fmt: skip
    prom = Prometheus(node.lay.run / "prometheus", node.lay.node_ip)
    with Discovery(node, prom.root):
        prom.start(config(prom.root, [rules]))
        try:
            yield prom
        finally:
            prom.stop()


def alert_state(prom: Prometheus) -> str:
    """``pending``, ``firing`` or ``""`` (inactive) for the release's namespace."""
    alerts: list[dict[str, Any]] = prom.api("/api/v1/alerts")["alerts"]
    for a in alerts:
        if a["labels"].get("alertname") == ALERT and a["labels"].get("namespace") == NS:
            return str(a["state"])
    return ""


def scraped(prom: Prometheus, job: str) -> bool:
    targets = prom.api("/api/v1/targets?state=active")["activeTargets"]
    return any(t["labels"].get("job") == job and t["health"] == "up" for t in targets)


def pause(node: Node, replicas: str | None) -> None:
    value = f"{PAUSE}={replicas}" if replicas is not None else f"{PAUSE}-"
    node.kubectl("-n", NS, "annotate", "--overwrite", "scaledobject", flows.PREDICTOR, value)


def test_predictor_not_ready_fires_while_the_predictor_is_held_at_zero_and_resolves(
    node: Node, prometheus: Prometheus, kafka_command: flows.Command
) -> None:
    hint = f"{prometheus.url}/alerts; {prometheus.root / 'prometheus.log'}"
    flows.wait_until("the workers scraped", lambda: scraped(prometheus, "catmatch-worker"), 60,
                     f"{prometheus.url}/targets")  # fmt: skip
    assert alert_state(prometheus) == "", "the alert is active before the fault"
    pause(node, "0")
    try:
        flows.wait_until("the predictor at zero",
                         lambda: flows.predictor_replicas(node) == (0, 0), 120,
                         f"kubectl -n {NS} describe scaledobject {flows.PREDICTOR}")  # fmt: skip
        started = time.time()
        proc = flows.start(kafka_command, flows.roundtrip_argv(PRODUCTS, int(started), 420))
        pending = flows.wait_until(f"{ALERT} pending",
                                   lambda: alert_state(prometheus) in ("pending", "firing"),
                                   120, hint)  # fmt: skip
        firing = flows.wait_until(f"{ALERT} firing", lambda: alert_state(prometheus) == "firing",
                                  120, hint)  # fmt: skip
        assert flows.predictor_replicas(node) == (0, 0), "KEDA did not hold the predictor at zero"
    finally:
        pause(node, None)
    resumed = time.time()
    result = flows.finish(proc, 420, f"{PRODUCTS} products waiting for the predictor")
    resolved = flows.wait_until(f"{ALERT} resolved", lambda: alert_state(prometheus) == "", 120,
                                hint)  # fmt: skip
    figure("alert_predictor_not_ready", {
        "for": FOR, "pending_after_produce_s": round(pending - started, 1),
        "firing_after_produce_s": round(firing - started, 1),
        "last_label_after_unpause_s": round(result["last_label_at"] - resumed, 1),
        "resolved_after_unpause_s": round(resolved - resumed, 1),
    })  # fmt: skip
    assert result["labelled"] == PRODUCTS and result["duplicates"] == 0, result
    assert result["dead_letters"] == 0, result
