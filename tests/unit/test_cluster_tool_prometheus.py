"""localkube.prometheus: the configuration and the target files of the Prometheus the
cluster test runs on the node (pure; the alert test itself is tests/cluster/test_prometheus.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.tools import load_script

load_script("cluster")  # puts scripts/ on sys.path

from localkube import prometheus  # noqa: E402


def _pod(name: str, component: str, phase: str, ports: list[tuple[str, int]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns",
                     "labels": {"app.kubernetes.io/component": component}},
        "spec": {"containers": [{"ports": [{"name": n, "containerPort": p} for n, p in ports]}]},
        "status": {"phase": phase, "podIP": f"10.0.0.{len(name)}"},
    }  # fmt: skip


def test_each_job_reads_its_own_target_file(tmp_path: Path) -> None:
    conf = prometheus.config(tmp_path, [tmp_path / "r.yaml"])
    assert conf["rule_files"] == [str(tmp_path / "r.yaml")]
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert set(jobs) == {"catmatch-worker", "catmatch-predictor"}
    for job, j in jobs.items():
        (sd,) = j["file_sd_configs"]
        assert sd["files"] == [str(tmp_path / "targets" / f"{job}.json")]


def test_targets_are_the_running_pods_at_their_named_port_labelled_as_the_monitors_do(
    tmp_path: Path,
) -> None:
    pods = {"items": [
        _pod("w-0", "worker", "Running", [("metrics", 9400), ("health", 8081)]),
        _pod("w-1", "worker", "Pending", [("metrics", 9400)]),
        _pod("pred-abc", "predictor", "Running", [("http1", 8080)]),
        _pod("kafka-0", "kafka", "Running", [("metrics", 9404)]),
    ]}  # fmt: skip
    prometheus.write_targets(tmp_path, pods)
    worker = json.loads((tmp_path / "targets" / "catmatch-worker.json").read_text())
    predictor = json.loads((tmp_path / "targets" / "catmatch-predictor.json").read_text())
    assert worker == [{"targets": ["10.0.0.3:9400"], "labels": {"namespace": "ns", "pod": "w-0"}}]
    assert predictor == [
        {"targets": ["10.0.0.8:8080"], "labels": {"namespace": "ns", "pod": "pred-abc"}}
    ]
    prometheus.write_targets(tmp_path, {"items": []})  # the predictor at zero: no target
    assert json.loads((tmp_path / "targets" / "catmatch-predictor.json").read_text()) == []
