"""training.speed_probe.op_shares and OnnxClassifier.profile: where onnxruntime spends its
kernel time, per operator, in a session like the served one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictor.onnx_runtime import OnnxClassifier, load_onnx
from tests.fixtures.predictor import SAMPLE_TEXTS
from training.onnx_export import export_onnx
from training.speed_probe import op_shares


@pytest.fixture(scope="module")
def int8(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> OnnxClassifier:
    out = tmp_path_factory.mktemp("onnx") / "int8"
    # random tiny weights agree poorly with torch once int8 (test_predictor_onnx.py)
    export_onnx(tiny_model_dir, out, quantization="dynamic-int8", min_agreement=0.0)
    return load_onnx(out, "cpu", 128)


def test_a_profile_runs_in_its_own_session_and_the_served_one_answers_as_before(
    int8: OnnxClassifier, tmp_path: Path
) -> None:
    batch = int8.tokenize(list(SAMPLE_TEXTS))
    before = int8.logits(batch)
    path = int8.profile([batch, batch], tmp_path / "ops")
    assert path.is_file() and path.name.startswith("ops")
    kernels = [e for e in json.loads(path.read_text())
               if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    assert kernels
    np.testing.assert_array_equal(int8.logits(batch), before)


def test_op_shares_add_up_and_name_the_int8_graphs_operators(int8: OnnxClassifier) -> None:
    shares = op_shares(int8, [*SAMPLE_TEXTS] * 10, batch=16)
    assert shares["kernel_ms"] > 0
    assert sum(shares["share_pct"].values()) == pytest.approx(100, abs=0.5)
    assert any("Quant" in op for op in shares["share_pct"])  # the quantised products
    assert all(share >= 0 for share in shares["share_pct"].values())
