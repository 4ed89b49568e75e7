"""A real predictor serving an ONNX version made by ``catmatch models export``.

The store holds the tiny model as v1 (transformers); ``python -m catmatch models export`` adds
v2 (onnx, fp32). Two predictor processes serve v1 and v2 from the store; V1, V2-text and
V2-INT64-token requests (what the workers send) must get the same labels from both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.tokenization import load_tokenizer
from modelstore import ModelStore
from tests.fixtures.predictor import SAMPLE_TEXTS, post_json

pytestmark = pytest.mark.integration

NAME = "category-match"
EXPORT_TIMEOUT_S = 240


@pytest.fixture
def store(tiny_model_dir: Path, tmp_path: Path) -> ModelStore:
    """v1: the tiny model; v2: its ONNX export, made with the command line."""
    store = ModelStore.from_uri(tmp_path / "store")
    store.publish(NAME, tiny_model_dir, runtime="transformers", metrics={}, info={})
    done = subprocess.run(
        [sys.executable, "-m", "catmatch", "models", "export", NAME, "v1", "--runtime", "onnx",
         "--store", store.uri],
        capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published {NAME} v2 " in done.stdout
    return store


def _bodies(model_dir: Path) -> dict[str, dict]:
    tok = load_tokenizer(model_dir, 128)
    enc = tok.encode_batch(SAMPLE_TEXTS)
    shape = [len(enc), len(enc[0].ids)]
    return {
        "v2-text": {"inputs": [{"name": "text", "datatype": "BYTES",
                                "shape": [len(SAMPLE_TEXTS)], "data": SAMPLE_TEXTS}]},
        "v2-ids": {"inputs": [
            {"name": "input_ids", "datatype": "INT64", "shape": shape,
             "data": [i for e in enc for i in e.ids]},
            {"name": "attention_mask", "datatype": "INT64", "shape": shape,
             "data": [m for e in enc for m in e.attention_mask]},
        ]},
    }


def _v2(body: dict) -> tuple[list[str], list[float]]:
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    return outputs["label"], outputs["score"]


def test_onnx_version_answers_like_the_torch_version(store: ModelStore, predictor_factory):
    v2 = store.resolve(NAME, "v2")
    assert v2.runtime == "onnx" and v2.info["source_version"] == "v1"
    servers = {
        version: predictor_factory(
            extra_args=["--store", store.uri, "--store-name", NAME, "--model-ref", version]
        )
        for version in ("v1", "v2")
    }
    assert "onnxruntime cpu" in servers["v2"].log_tail(20_000)

    v1_answers = {}
    for version, server in servers.items():
        status, body = post_json(
            f"{server.url}/v1/models/{NAME}:predict", {"instances": SAMPLE_TEXTS}
        )
        assert status == 200, body
        assert body["model_version"] == version
        v1_answers[version] = [p["label"] for p in body["predictions"]]
    assert v1_answers["v2"] == v1_answers["v1"]
    assert len(set(v1_answers["v1"])) > 1

    for kind, request in _bodies(store.local_path(NAME, "v2")).items():
        answers = {}
        for version, server in servers.items():
            status, body = post_json(server.infer_url, request)
            assert status == 200, (kind, body)
            assert body["model_version"] == version
            answers[version] = _v2(body)
        labels_torch, scores_torch = answers["v1"]
        labels_onnx, scores_onnx = answers["v2"]
        assert labels_onnx == labels_torch == v1_answers["v1"], kind
        assert scores_onnx == pytest.approx(scores_torch, abs=1e-4), kind

    # bad token ids: 400 from both runtimes
    bad = {"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [101, 10**6, 102]},
        {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
    ]}
    for server in servers.values():
        status, _ = post_json(server.infer_url, bad)
        assert status == 400
