"""training.speed_probe.op_shares: where onnxruntime spends its kernel time, per operator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from training.speed_probe import op_shares


def test_op_shares_adds_up_and_names_the_graphs_operators(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.ones((8, 8), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Sigmoid", ["h"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])], [weight],
    )
    path = tmp_path / "g.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what this onnxruntime reads, whatever onnx writes by default
    onnx.save(model, str(path))
    feeds = [{"x": np.ones((64, 8), dtype=np.float32), "attention_mask": np.ones(3)}] * 5
    shares = op_shares(path, feeds, threads=1)  # an input the graph lacks is left out
    assert shares["kernel_ms"] > 0
    assert set(shares["share_pct"]) == {"MatMul", "Sigmoid"}
    assert sum(shares["share_pct"].values()) == pytest.approx(100, abs=0.2)
