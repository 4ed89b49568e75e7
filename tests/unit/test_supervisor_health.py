"""The supervisor restarts a child that is alive but keeps answering 503 on /healthz."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.settings import Settings, WorkerSettings
from worker import supervisor
from worker.supervisor import Supervisor, probe


@pytest.fixture
def health_server():
    status = {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(status["code"])
            self.end_headers()
            self.wfile.write(b'{"stuck": %s}' % (b"true" if status["code"] != 200 else b"false"))

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/healthz", status
    server.shutdown()


def test_only_a_503_answer_is_unhealthy(health_server):
    url, status = health_server
    assert probe(url) == (True, '{"stuck": false}')
    status["code"] = 503
    assert probe(url) == (False, '{"stuck": true}')
    assert probe("http://127.0.0.1:9/healthz")[0]  # refused: starting, not judged here


class FakeProc:
    pid = 1234

    def __init__(self) -> None:
        self.terminated = False

    def is_alive(self) -> bool:
        return not self.terminated

    def terminate(self) -> None:
        self.terminated = True

    def kill(self) -> None:
        self.terminated = True

    def join(self, timeout=None) -> None:
        pass


def test_a_child_failing_its_checks_in_a_row_is_restarted(monkeypatch):
    answers = iter([(False, "stuck"), (True, "ok"), (False, "stuck"), (False, "stuck"),
                    (False, "stuck")])
    monkeypatch.setattr(supervisor, "probe", lambda url: next(answers))
    sup = Supervisor(Settings(worker=WorkerSettings(metrics_port=9400)), workers=1)
    proc = FakeProc()
    sup._procs, sup._started_at, sup._unhealthy = {0: proc}, {0: -1e9}, {0: 0}
    for _ in range(4):
        sup._last_health = 0.0
        sup._check_health()
        assert not proc.terminated  # a healthy answer in between resets the count
    sup._last_health = 0.0
    sup._check_health()
    assert proc.terminated
    assert sup.health_url(0) == "http://127.0.0.1:9400/healthz"
