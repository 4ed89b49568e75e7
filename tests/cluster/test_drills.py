"""Faults on the pods while products flow: each drill must lose nothing, duplicate nothing
and dead-letter no valid product, counted from this machine with a ``read_committed`` reader.

The drills of toolbox/drills (processes on loopback) done to the release on the node: a
worker pod deleted, the predictor pod deleted, the Kafka pod deleted (its log dir is on a
PersistentVolume, localkube.release), and a rolling restart of the workers' StatefulSet.
Each produces products at a steady rate from this machine (tests/cluster/hostkafka.py
``stream``), injects its fault after a warm-up, and reports how long the labels paused per
input partition and when every partition labelled again (tests/cluster/drills.py), and how
long the replacement pod took to be Ready. Exactly-once workers (the node values): a
restarted pod keeps its name and so its transactional id, and aborts its predecessor's
open transaction. Needs root and ``CATMATCH_CLUSTER=1`` (``make test-cluster``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.cluster.conftest import enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube.node import Node  # noqa: E402

from tests.cluster import drills, flows  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
NS = flows.NS
PRODUCTS = 1200
RATE = 40.0  # products a second: under the pipeline's ~100/s, so the backlog drains
WARM_UP_S = 6.0
WORKER_PODS = "app.kubernetes.io/component=worker"
PREDICTOR_PODS = "serving.kserve.io/inferenceservice=category-match"
KAFKA_PODS = "app.kubernetes.io/name=kafka"


@dataclass(frozen=True)
class Drill:
    name: str
    pods: str  # the selector of the pods the fault replaces
    inject: Callable[[Node], None]


def _delete(pod: str) -> Callable[[Node], None]:
    def inject(node: Node) -> None:
        node.kubectl("-n", NS, "delete", "pod", pod, "--wait=false")

    return inject


def _delete_predictor(node: Node) -> None:
    node.kubectl("-n", NS, "delete", "pod", "-l", PREDICTOR_PODS, "--wait=false")


def _rollout_restart(node: Node) -> None:
    node.kubectl("-n", NS, "rollout", "restart", f"statefulset/{flows.WORKERS}")
    node.wait_rollout(NS, f"statefulset/{flows.WORKERS}", 240)


DRILLS = [
    Drill("worker-pod", WORKER_PODS, _delete(f"{flows.WORKERS}-0")),
    Drill("predictor-pod", PREDICTOR_PODS, _delete_predictor),
    Drill("kafka-pod", KAFKA_PODS, _delete("kafka-0")),
    Drill("worker-rollout", WORKER_PODS, _rollout_restart),
]


@pytest.mark.parametrize("drill", DRILLS, ids=[d.name for d in DRILLS])
def test_a_fault_mid_stream_loses_and_duplicates_nothing(
    drill: Drill, node: Node, installed: dict[str, float], kafka_command: flows.Command
) -> None:
    before = flows.ready_pods(node, drill.pods)
    assert before, f"no Ready pod matches {drill.pods} before the drill"
    seed = int(time.time())
    proc = flows.start(kafka_command, flows.stream_argv(PRODUCTS, RATE, seed, timeout=300))
    # The predictor may be at zero: the stream wakes it; the fault comes once it serves.
    flows.wait_until("the predictor Ready", lambda: bool(flows.ready_pods(node, PREDICTOR_PODS)),
                     120, f"kubectl -n {NS} get pods -l {PREDICTOR_PODS}")  # fmt: skip
    time.sleep(WARM_UP_S)
    workers = len(flows.ready_pods(node, WORKER_PODS))
    fault_at = time.time()
    drill.inject(node)
    injected_at = time.time()

    def replaced() -> bool:
        now = flows.ready_pods(node, drill.pods)
        return bool(now) and not set(now.values()) & set(before.values())

    replaced_at = flows.wait_until(f"new {drill.pods} pods Ready", replaced, 240,
                                   f"kubectl -n {NS} get pods -l {drill.pods}")  # fmt: skip
    result = flows.finish(proc, 400, f"the {drill.name} drill's stream")
    measured = drills.recovery(result.pop("arrivals"), fault_at)
    figure(f"drill_{drill.name}", {
        "products": result["products"], "labelled": result["labelled"],
        "duplicates": result["duplicates"], "dead_letters": result["dead_letters"],
        "workers_at_fault": workers, "inject_s": round(injected_at - fault_at, 1),
        "replacement_ready_s": round(replaced_at - fault_at, 1), **measured,
        "last_label_after_fault_s": round(result["last_label_at"] - fault_at, 1),
    })  # fmt: skip
    assert result["products"] == result["distinct_ids"] == PRODUCTS
    assert result["labelled"] == PRODUCTS, (
        f"{PRODUCTS - result['labelled']} products lost, e.g. {result['missing_sample']}; "
        f"kubectl -n {NS} logs statefulset/{flows.WORKERS}"
    )
    assert result["duplicates"] == 0
    assert result["dead_letters"] == 0, "valid products were dead-lettered"
    assert measured["recovered_s"] is not None
