"""KServe's controller and KEDA on the real node, before the chart.

Needs root and ``CATMATCH_CLUSTER=1`` (``make test-cluster``).
"""

from __future__ import annotations

import json

import pytest

from tests.cluster.conftest import enabled, figure

if not enabled():
    pytest.skip("the real node runs only with CATMATCH_CLUSTER=1", allow_module_level=True)

from localkube import images, keda, kserve  # noqa: E402
from localkube.node import Node  # noqa: E402
from localkube.operators import RESTRICTED  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def test_a_standard_mode_inferenceservice_gets_a_deployment_and_a_service_and_goes_ready(
    node: Node, operators: dict[str, float]
) -> None:
    """``autoscalerClass: external``: KServe makes ``<name>-predictor`` and no HPA."""
    result = kserve.check(node, images.BASE_IMAGE)
    figure("kserve_check", result)
    assert result["objects"] == ["Deployment/probe-predictor", "Service/probe-predictor"]


def test_the_external_metrics_api_answers_through_the_api_server(
    node: Node, operators: dict[str, float]
) -> None:
    assert keda.apiservice_available(node) == ""


def test_operator_namespaces_enforce_restricted_and_their_pods_run(
    node: Node, operators: dict[str, float]
) -> None:
    for ns, deployments in ((kserve.NAMESPACE, [kserve.DEPLOYMENT]),
                            (keda.NAMESPACE, list(keda.DEPLOYMENTS))):  # fmt: skip
        labels = json.loads(node.kubectl("get", "namespace", ns, "-o", "json").stdout)
        assert labels["metadata"]["labels"].items() >= RESTRICTED.items()
        pods = json.loads(node.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        assert len(running) == len(deployments), [p["metadata"]["name"] for p in pods]
