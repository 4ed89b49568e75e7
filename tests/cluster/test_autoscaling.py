"""KEDA scales the exactly-once workers on the input lag, up to the partition count and back.

The node values keep the chart's caution: scale up only on lag that outlasts a cold start
(``keda.scaleUpStabilizationSeconds`` 60 s; 180 s by default, 300 s in ops) and scale down
after ten minutes of less lag. A test cannot wait that long, and the defaults are right for
a cluster, so this test installs the same release with a values override for its duration
(no stabilization up, 15 s down, 100 products of lag per worker, a 5 s poll), checks the
scale-up to both partitions' workers and the scale-down to one, and that the products
pushed through meanwhile are each labelled exactly once, then puts the node values back.
The predictor's own 0 -> 1 -> 0 is measured in test_pipeline.py. Needs root and
``CATMATCH_CLUSTER=1`` (``make test-cluster``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.cluster.conftest import enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube import release  # noqa: E402
from localkube.node import Node  # noqa: E402

from tests.cluster import flows  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
NS = flows.NS
PARTITIONS = 2  # topics.partitions in ci/node-values.yaml: the most workers KEDA may run
PRODUCTS = 3000
FAST_KEDA = [
    "keda.scaleUpStabilizationSeconds=0",
    "keda.scaleDownStabilizationSeconds=15",
    "keda.lagThreshold=100",
    "keda.pollingInterval=5",
]


def workers(node: Node) -> tuple[int, int]:
    return flows.replicas(node, "statefulset", flows.WORKERS)


@pytest.fixture
def fast_keda(node: Node, installed: dict[str, float]) -> Iterator[None]:
    release.chart(node, FAST_KEDA)
    try:
        yield
    finally:
        release.chart(node, [])


def test_keda_scales_the_workers_to_the_partitions_on_lag_and_back(
    node: Node, fast_keda: None, kafka_command: flows.Command
) -> None:
    hint = (f"kubectl -n {NS} describe scaledobject {flows.WORKERS}; kubectl -n {NS} "
            f"describe hpa keda-hpa-{flows.WORKERS}")  # fmt: skip
    flows.wait_until("one worker before the burst", lambda: workers(node) == (1, 1), 180, hint)
    proc = flows.start(kafka_command, flows.roundtrip_argv(PRODUCTS, int(time.time()), 480))
    started = time.time()
    up_at = flows.wait_until(f"{PARTITIONS} workers", lambda: workers(node) == (PARTITIONS,) * 2,
                             240, hint)  # fmt: skip
    result = flows.finish(proc, 540, "the burst of products (tests/cluster/hostkafka.py)")
    down_at = flows.wait_until("back to one worker", lambda: workers(node)[0] == 1, 240, hint)
    figure("keda_workers", {
        "products": PRODUCTS, "overrides": FAST_KEDA,
        "scale_up_s": round(up_at - started, 1),
        "last_label_s": result["last_label_s"],
        "scale_down_after_last_label_s": round(down_at - result["last_label_at"], 1),
    })  # fmt: skip
    assert result["labelled"] == PRODUCTS and result["duplicates"] == 0, result
    assert result["dead_letters"] == 0
