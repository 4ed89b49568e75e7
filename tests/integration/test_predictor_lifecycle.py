"""Predictor process lifecycle: SIGTERM, restart, cold start, start-up errors, entry points."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.predictor import PredictorServer, post_json

pytestmark = pytest.mark.integration

TEXT_BODY = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["kettle"]}]}


def refused(server: PredictorServer) -> bool:
    try:
        urllib.request.urlopen(f"{server.url}/v2/health/live", timeout=2)
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, ConnectionRefusedError)
    return False


def test_sigterm_exits_cleanly_and_the_server_restarts(predictor_server: PredictorServer):
    pid = predictor_server.process.pid
    started = time.monotonic()
    assert predictor_server.stop() == 0
    assert time.monotonic() - started < 20
    assert refused(predictor_server)
    predictor_server.start()
    assert predictor_server.process.pid != pid
    assert post_json(predictor_server.infer_url, TEXT_BODY)[0] == 200


def test_cold_start_after_a_delay(predictor_server: PredictorServer):
    predictor_server.stop()
    predictor_server.start(delay_s=1.0, wait=False)
    assert refused(predictor_server)  # down until the delayed start has happened
    predictor_server.wait_ready()
    status, body = post_json(predictor_server.infer_url, TEXT_BODY)
    assert status == 200 and body["outputs"][0]["name"] == "label"


def test_killed_server_is_restarted_for_the_next_test(predictor_server: PredictorServer):
    predictor_server.kill()
    assert not predictor_server.running and refused(predictor_server)


def test_after_kill_the_fixture_serves_again(predictor_server: PredictorServer):
    assert predictor_server.running
    assert post_json(predictor_server.infer_url, TEXT_BODY)[0] == 200


def test_catmatch_serve_entry_point(predictor_factory, tiny_model_dir: Path):
    server = predictor_factory(
        model_name="via-catmatch", entry="catmatch", extra_args=["--top-k", "2"]
    )
    status, body = post_json(server.infer_url, TEXT_BODY)
    assert status == 200, body
    assert body["model_name"] == "via-catmatch"
    assert {o["name"]: o["shape"] for o in body["outputs"]}["top_k_label"] == [1, 2]
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "/nonexistent/c.yaml"], "config file not found"),
        (["--model-dir", "/nonexistent/model"], "cannot load model"),
    ],
)
def test_start_up_errors_are_one_line(args: list[str], message: str):
    proc = subprocess.run(
        [sys.executable, "-m", "predictor", *args, "--http-port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
