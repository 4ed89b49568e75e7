"""scripts/audit.py: findings from PyPI's JSON API, exceptions with reasons, honest gaps."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fixtures.tools import load_script

audit = load_script("audit")

PAGES = {  # project pages as a registry serves them: vulnerabilities of the latest release
    "safe": {"info": {"version": "1.0"}, "vulnerabilities": []},
    "leaky": {"info": {"version": "2.0"}, "vulnerabilities": [
        {"id": "PYSEC-2026-1", "aliases": ["CVE-2026-0001"], "fixed_in": ["2.1"],
         "summary": "header injection"},
        {"id": "PYSEC-2026-2", "aliases": [], "fixed_in": [], "withdrawn": "2026-01-01",
         "summary": "withdrawn"},
    ]},
    "moved-on": {"info": {"version": "9.0"}, "vulnerabilities": []},
}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            name = self.path.strip("/").split("/")[0]
            page = PAGES.get(name)
            body = json.dumps(page).encode() if page else b"{}"
            self.send_response(200 if page else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(audit, "PYPI_JSON", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(audit, "pip_audit", lambda constraints: None)  # a project-page registry
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def write(tmp_path: Path, pins: str, exceptions: str = "") -> tuple[Path, Path]:
    (tmp_path / "c.txt").write_text(pins)
    (tmp_path / "x.txt").write_text(exceptions)
    return tmp_path / "c.txt", tmp_path / "x.txt"


def test_a_vulnerable_pin_fails_and_a_gap_is_listed(registry: str, tmp_path: Path, capsys):
    paths = write(tmp_path, "# header\nsafe==1.0\nleaky==2.0\nmoved_on==8.0\nlocal==0.1\n")
    report = audit.audit(*paths)
    assert set(report.audited) == {"safe", "leaky"}
    assert report.not_audited["moved-on"].startswith("pinned 8.0")
    assert report.not_audited["local"] == audit.NOT_FOUND
    assert [f.id for f in report.blocking] == ["PYSEC-2026-1"]  # the withdrawn one is ignored
    assert audit.main(["--constraints", str(paths[0]), "--exceptions", str(paths[1])]) == 1
    assert "NOT EXCEPTED" in capsys.readouterr().out


def test_an_exception_with_a_reason_allows_it_by_id_or_alias(registry: str, tmp_path: Path):
    paths = write(tmp_path, "leaky==2.0\n",
                  "# why\nCVE-2026-0001 leaky only the server side is affected; we are a client\n"
                  "PYSEC-1999-9 safe stale entry\n")
    report = audit.audit(*paths)
    assert report.blocking == [] and report.findings[0].exception.startswith("only the server")
    assert report.stale_exceptions == ["PYSEC-1999-9 safe"]
    assert audit.main(["--constraints", str(paths[0]), "--exceptions", str(paths[1])]) == 0


def test_an_exception_without_a_reason_is_refused(registry: str, tmp_path: Path):
    paths = write(tmp_path, "leaky==2.0\n", "PYSEC-2026-1 leaky\n")
    assert audit.main(["--constraints", str(paths[0]), "--exceptions", str(paths[1])]) == 1


def test_an_unreachable_registry_fails_only_in_ci(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(audit, "PYPI_JSON", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(audit, "pip_audit", lambda constraints: None)
    paths = write(tmp_path, "safe==1.0\n")
    argv = ["--constraints", str(paths[0]), "--exceptions", str(paths[1])]
    monkeypatch.setenv("CI", "true")
    assert audit.main(argv) == 2
    monkeypatch.setenv("CI", "false")
    assert audit.main(argv) == 0


def test_the_committed_exceptions_file_parses():
    root = Path(__file__).resolve().parents[2]
    audit.read_exceptions(root / "requirements" / "audit-exceptions.txt")
