"""A real predictor following a model-store alias: promote and roll back under load.

The predictor serves ``dev`` from a store holding two tiny models with DIFFERENT label sets,
while a thread sends V2 requests back to back. Promoting v2 must switch the answers to v2's
labels with no failed request; rolling back must switch to v1 again from the cache, without
loading it a second time.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modelstore import ModelStore
from tests.fixtures.predictor import BETA_LABELS, PredictorServer, post_json

pytestmark = pytest.mark.integration

NAME = "category-match"
B_LABELS = BETA_LABELS
SWITCH_TIMEOUT_S = 30.0
TEXTS = ["Stainless steel kettle 1.7 l", "Cotton t-shirt", "LEGO fire station", "Dark chocolate"]
BODY = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [4], "data": TEXTS}]}


@dataclass
class Sender:
    """Sends V2 requests back to back on a thread and records every answer."""

    url: str
    results: list[tuple[int, str, frozenset[str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            status, body = post_json(self.url, BODY, timeout_s=20)
            labels = frozenset()
            if status == 200:
                top = next(o for o in body["outputs"] if o["name"] == "top_k_label")
                labels = frozenset(top["data"])
            self.results.append((status, str(body.get("model_version")), labels))

    def versions_since(self, index: int) -> list[str]:
        return [version for _, version, _ in self.results[index:]]


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, server) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen in {timeout_s} s:\n{server.log_tail()}")
        time.sleep(0.05)


def metric(server: PredictorServer, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            return float(match[2])
    return 0.0


@pytest.fixture
def store(two_version_store: ModelStore, tiny_model_dir: Path) -> ModelStore:
    """v1, v2 (other labels) and v3, never loaded; dev serves v1."""
    two_version_store.publish(NAME, tiny_model_dir, runtime="transformers", metrics={}, info={})
    return two_version_store


def test_promote_and_rollback_swap_without_a_failed_request(
    store: ModelStore, tiny_model_dir: Path, predictor_factory
):
    a_labels = set(json.loads((tiny_model_dir / "catmatch.json").read_text())["labels"])
    server = predictor_factory(
        model_name=NAME,
        extra_args=[
            "--store", store.uri, "--store-name", NAME, "--model-ref", "dev",
            "--poll-interval", "0.2", "--cache-size", "2",
        ],
    )
    sender = Sender(server.infer_url)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(sender.results) >= 5, SWITCH_TIMEOUT_S, "first answers", server)
        assert set(sender.versions_since(0)) == {"v1"}

        mark = len(sender.results)
        store.promote(NAME, "v2", "dev", actor="test")
        wait_for(lambda: "v2" in sender.versions_since(mark), SWITCH_TIMEOUT_S, "v2", server)
        assert metric(server, "catmatch_predictor_model_info", model=NAME, version="v2") == 1

        # Pinning: v1 is still cached, v3 was never loaded.
        status, body = post_json(server.infer_url, {**BODY, "parameters": {"model_version": "v1"}})
        assert status == 200 and body["model_version"] == "v1"
        status, body = post_json(f"{server.url}/v2/models/{NAME}/versions/v1/infer", BODY)
        assert status == 200 and body["model_version"] == "v1"
        status, body = post_json(server.infer_url, {**BODY, "parameters": {"model_version": "v3"}})
        assert status == 409, body
        assert body["live_version"] == "v2" and body["requested_version"] == "v3"

        mark = len(sender.results)
        store.rollback(NAME, "dev", actor="test")
        wait_for(lambda: "v1" in sender.versions_since(mark), SWITCH_TIMEOUT_S, "v1", server)
        mark = len(sender.results)
        wait_for(lambda: len(sender.results) >= mark + 5, SWITCH_TIMEOUT_S, "answers", server)
    finally:
        sender.stop.set()
        thread.join(30)

    assert not thread.is_alive()
    failed = [r for r in sender.results if r[0] != 200]
    assert not failed, f"{len(failed)} of {len(sender.results)} requests failed: {failed[:3]}"
    for _, version, labels in sender.results:
        assert labels <= (a_labels if version == "v1" else set(B_LABELS)), (version, labels)
    assert set(sender.versions_since(mark)) == {"v1"}
    # v1 and v2 loaded once each: the rollback came from the cache.
    assert metric(server, "catmatch_predictor_model_loads_total", model=NAME, result="ok") == 2
    assert metric(server, "catmatch_predictor_model_swaps_total", model=NAME) == 2
    assert metric(server, "catmatch_predictor_model_cache_hits_total", model=NAME) == 1
    assert "v1 is cached, switching without a reload" in server.log_tail(20000)


def test_model_dir_mode_is_unchanged(predictor_server: PredictorServer):
    status, body = post_json(predictor_server.infer_url, BODY)
    card = json.loads((predictor_server.model_dir / "catmatch.json").read_text())
    assert status == 200 and body["model_version"] == card["version"]
    pinned = {**BODY, "parameters": {"model_version": "v9"}}
    status, body = post_json(predictor_server.infer_url, pinned)
    assert status == 409 and body["live_version"] == card["version"]
