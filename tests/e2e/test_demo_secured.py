"""``catmatch demo --security sasl_ssl``: the whole pipeline on a secured broker, every client
a SCRAM user with only its roles' ACLs (fast: a tiny sklearn model from a store)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from training.builders import build_tiny_sklearn

pytestmark = pytest.mark.e2e

NAME = "category-match-tfidf"


def test_demo_runs_secured_end_to_end(tmp_path: Path):
    from modelstore import ModelStore

    store = ModelStore.from_uri(tmp_path / "store")
    store.publish(NAME, build_tiny_sklearn(tmp_path / "sk"), runtime="sklearn", metrics={},
                  info={})
    store.promote(NAME, "v1", "dev", actor="test")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATMATCH_KAFKA__")}
    cmd = [
        sys.executable, "-m", "catmatch", "demo", "--security", "sasl_ssl", "--count", "60",
        "--workers", "1", "--store", str(tmp_path / "store"), "--store-name", NAME,
        "--model-ref", "dev", "--work-dir", str(tmp_path / "demo"), "--show", "3",
        "--timeout", "120",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=280, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "secured (SASL_SSL, SCRAM-SHA-512, ACLs enforced)" in out
    assert re.search(r"60/60 products labelled \(0 labelled twice\)", out), out[-3000:]
    assert len(re.findall(r"offset +\d+ +(invalid_json|invalid_schema|empty_text)", out)) == 5
    props = (tmp_path / "demo" / "kafka" / "server.properties").read_text()
    assert "allow.everyone.if.no.acl.found=false" in props
    assert "refuses this client" not in out  # no role lacked an ACL
