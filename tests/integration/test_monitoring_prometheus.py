"""A REAL Prometheus scrapes a running worker and predictor, evaluates the chart's alerts and
fires them.

Prometheus is Debian's binary (``apt-get install prometheus``; scripts/bootstrap.sh), with
its own config and data directory under tmp_path, listening on loopback only, stopped by
its PID. The rules are rendered from the chart (scripts/render_rules.py) with `for:` values
of seconds. The worker (tests/integration/worker_harness.py) talks to the session predictor
through the fault proxy: a 503 on every inference request makes the predictor unavailable
(as a cold start would), a 403 opens the predictor circuit; clearing the fault restores it,
so the session predictor keeps running for later tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.faults import Fault
from tests.fixtures.kafka import consume_all
from tests.fixtures.tools import installed, load_script
from tests.integration.worker_harness import WorkerThread, pipeline_settings, produce
from transport.broker.config import free_ports

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
ALERT_TIMEOUT_S = 60.0
# Short `for:` values and a 1 s evaluation interval, on top of the chart's defaults.
TEST_SETS = (
    "metrics.prometheusRule.interval=1s",
    "metrics.prometheusRule.alerts.predictorNotReady.for=3s",
    "metrics.prometheusRule.alerts.predictorFailing.for=3s",
    "metrics.prometheusRule.alerts.predictorCircuitOpen.for=3s",
)


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    return pid.encode(), json.dumps({"product_id": pid, "title": f"Oak table model {i}"}).encode()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` every 0.25 s until it returns something truthy; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.25)


class Prometheus:
    """One ``prometheus`` process on 127.0.0.1 with its own config and data directory."""

    def __init__(self, binary: str, workdir: Path, jobs: dict[str, list[str]], rules: Path) -> None:
        self.port = free_ports("127.0.0.1", 1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in jobs.items()
            ],
        }
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))
        self.argv = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, START_TIMEOUT_S, f"Prometheus ready:\n{self.log_tail()}")
        return self

    def stop(self) -> None:
        """SIGTERM by PID, bounded wait, then SIGKILL."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, name: str) -> list[dict[str, Any]]:
        """Active alerts (pending or firing) called ``name``, from /api/v1/alerts."""
        return [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts(name) if a["state"] == "firing"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"query": expr})
        result: list[dict[str, Any]] = self.api(f"query?{query}")["result"]
        return result

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The chart's alerts as a rule file, with `for:` values of seconds."""
    render_rules = load_script("render_rules")
    path: Path = render_rules.write_rule_file(
        tmp_path / "rules.yaml", render_rules.install_helm(), TEST_SETS
    )
    return path


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> tuple[str, str, str]:
    return topic_factory(prefix="in"), topic_factory(prefix="out"), topic_factory(prefix="dlq")


@pytest.fixture
def prometheus_factory(
    tmp_path: Path,
) -> Iterator[Callable[[dict[str, list[str]], Path], Prometheus]]:
    binary = installed("prometheus", "apt-get install prometheus")
    started: list[Prometheus] = []

    def start(jobs: dict[str, list[str]], rules: Path) -> Prometheus:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        prom = Prometheus(binary, workdir, jobs, rules)
        started.append(prom)
        return prom.start()

    yield start
    for prom in started:
        prom.stop()


def test_prometheus_fires_the_predictor_alerts_while_the_predictor_is_down(
    kafka_bootstrap,
    kafka_config,
    topics,
    predictor_server,
    tiny_model_dir,
    fault_proxy,
    rules,
    prometheus_factory,
) -> None:
    proxy = fault_proxy(predictor_server.url)
    settings = pipeline_settings(
        kafka_bootstrap, topics, proxy.url, tiny_model_dir,
        model_name=predictor_server.model_name,
    )  # fmt: skip
    worker = WorkerThread(settings).start()
    try:
        port = wait_until(
            lambda: worker.worker.health is not None and worker.worker.health.port,
            30, "the worker's metrics port",
        )  # fmt: skip
        predictor_target = predictor_server.url.removeprefix("http://")
        jobs = {"catmatch-worker": [f"127.0.0.1:{port}"], "catmatch-predictor": [predictor_target]}
        prom = prometheus_factory(jobs, rules)
        wait_until(
            lambda: {t["labels"]["job"] for t in prom.api("targets")["activeTargets"]
                     if t["health"] == "up"} == set(jobs),
            30, "the worker and the predictor to be scraped",
        )  # fmt: skip
        assert {g["name"] for g in prom.api("rules")["groups"]} == {"category-match"}
        assert all(r["health"] == "ok" for r in prom.api("rules")["groups"][0]["rules"])

        # A healthy pipeline: results flow, the predictor alerts stay silent.
        produce(kafka_bootstrap, topics[0], (product(i) for i in range(5)))
        assert len(consume_all(kafka_config, topics[1], expected=5, timeout=60)) == 5
        ready = 'catmatch_worker_predictor_state{catmatch_worker_predictor_state="ready"} == 1'
        wait_until(lambda: prom.query(ready), 30, "Prometheus to see the predictor ready")
        time.sleep(4)  # longer than for: 3s
        assert prom.alerts("CatmatchPredictorNotReady") == []
        assert prom.alerts("CatmatchPredictorCircuitOpen") == []

        # The series the alerts and the dashboard select exist under those names in the real
        # processes (labelled counters appear with their first increment: dead letters, and
        # transactions under exactly_once, so those two are not expected here).
        def scraped(job: str) -> set[str]:
            series = prom.query(f'count by (__name__) ({{job="{job}"}})')
            return {s["metric"]["__name__"] for s in series}

        exprs = [r["expr"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]]
        in_alerts = {n for e in exprs for n in re.findall(r"\bcatmatch_worker_\w+", e)}
        later = {"catmatch_worker_dead_letters_total", "catmatch_worker_transactions_total"}
        assert len(in_alerts - later) >= 5
        assert in_alerts - later <= scraped("catmatch-worker")
        kserve = {
            f"request_{step}_seconds_bucket" for step in ("preprocess", "predict", "postprocess")
        }
        assert kserve <= scraped("catmatch-predictor")  # the dashboard's KServe latency panel

        # Unavailable (503 on every inference, as during a cold start): not_ready fires.
        proxy.set(Fault(status=503))
        produce(kafka_bootstrap, topics[0], (product(i) for i in range(5, 10)))
        (alert,) = wait_until(
            lambda: prom.firing("CatmatchPredictorNotReady"), ALERT_TIMEOUT_S,
            "CatmatchPredictorNotReady to fire",
        )  # fmt: skip
        assert alert["labels"]["severity"] == "warning"
        assert alert["annotations"]["summary"] == "The predictor has not been ready for 3s"
        assert prom.firing("CatmatchPredictorCircuitOpen") == []  # waiting, not a fault
        assert consume_all(kafka_config, topics[2], expected=1, timeout=1) == []

        # Restored: the waiting products get results and the alert resolves.
        proxy.set(None)
        assert len(consume_all(kafka_config, topics[1], expected=10, timeout=90)) == 10
        wait_until(
            lambda: prom.alerts("CatmatchPredictorNotReady") == [], ALERT_TIMEOUT_S,
            "CatmatchPredictorNotReady to resolve",
        )  # fmt: skip

        # A predictor fault (403 on everything): the circuit opens and its alert fires.
        proxy.set(Fault(status=403))
        produce(kafka_bootstrap, topics[0], (product(i) for i in range(10, 15)))
        (alert,) = wait_until(
            lambda: prom.firing("CatmatchPredictorCircuitOpen"), ALERT_TIMEOUT_S,
            "CatmatchPredictorCircuitOpen to fire",
        )  # fmt: skip
        assert alert["labels"]["severity"] == "critical"
        proxy.set(None)
        assert len(consume_all(kafka_config, topics[1], expected=15, timeout=90)) == 15
        wait_until(
            lambda: prom.alerts("CatmatchPredictorCircuitOpen") == [], ALERT_TIMEOUT_S,
            "CatmatchPredictorCircuitOpen to resolve",
        )  # fmt: skip
        assert consume_all(kafka_config, topics[2], expected=1, timeout=1) == []
    finally:
        proxy.set(None)
        worker.stop()
    assert predictor_server.is_ready()  # never stopped: later tests still have it
