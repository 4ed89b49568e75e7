"""``catmatch demo`` end to end, serving a model-store version (fast: a tiny sklearn model).

The demo starts its own broker, predictor and workers; this checks that one command gets
every product labelled by the store version it names and the malformed ones dead-lettered.
"""

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


def test_demo_serves_a_store_version_end_to_end(tmp_path: Path):
    from modelstore import ModelStore

    store = ModelStore.from_uri(tmp_path / "store")
    store.publish(NAME, build_tiny_sklearn(tmp_path / "sk"), runtime="sklearn", metrics={},
                  info={})
    store.promote(NAME, "v1", "dev", actor="test")
    cmd = [
        sys.executable, "-m", "catmatch", "demo", "--count", "60", "--workers", "1",
        "--store", str(tmp_path / "store"), "--store-name", NAME, "--model-ref", "dev",
        "--work-dir", str(tmp_path / "demo"), "--show", "3", "--timeout", "120",
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=280, env={**os.environ},
        cwd=Path(__file__).resolve().parents[2],
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert f"{NAME} v1 from the model store" in out
    assert re.search(r"60/60 products labelled \(0 labelled twice\), model category-match "
                     r"version v1", out), out[-3000:]
    dead = re.findall(r"offset +\d+ +(invalid_json|invalid_schema|empty_text)", out)
    assert len(dead) == 5, out[-3000:]
