"""Sub-batch size and layer-norm fusion on the CPU: texts/s of one trained run, side by side.

    .venv/bin/python scripts/bench_cpu_serving.py var/runs/run-...   [--passes 2] [--threads 2]

In one process, alternating, on the 1,024 generated titles ``training.measure`` times
(batch 64, tokenizing included, CPU time over ``--threads``, ``served_logits`` as the version
is served: blend, Korean route), at each ``--sub-batches`` size (0: one call per batch,
padded to its longest row):

- ``torch``: the run's fp32 model;
- ``int8, SLN fused``: its int8 export as it was made before 2026-12-07 22:00 UTC (residual
  Add + LayerNormalization fused into onnxruntime's SkipLayerNormalization, offline and again
  when the session loads);
- ``int8``: its int8 export as ``catmatch models export --quantize int8`` makes it now (the
  pair left apart, ``predictor.onnx_runtime.DISABLED_FUSIONS``).

It then times the two kernels alone (one thread, batch 16 x 24 tokens x 384, the default
model's shape): onnxruntime's SkipLayerNormalization against the Add and LayerNormalization
it replaces. docs/BENCHMARKS.md ("Sub-batches and layer norms") holds the figures.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_blend import run_parser, run_setup  # noqa: E402 (a sibling script)


def _export(run_dir: Path, out: Path, max_length: int, *, fuse_skip_layer_norm: bool) -> Any:
    """The run's int8 export, with or without the SkipLayerNormalization fusion, loaded."""
    import predictor.onnx_runtime as ort_runtime
    import training.onnx_export as onnx_export

    saved = onnx_export.FUSION_OFF, ort_runtime.DISABLED_FUSIONS
    if fuse_skip_layer_norm:
        onnx_export.FUSION_OFF, ort_runtime.DISABLED_FUSIONS = (), ()
    try:
        onnx_export.export_onnx(run_dir, out, quantization="dynamic-int8",
                                max_length=max_length, min_agreement=0.0)
        return ort_runtime.load_onnx(out, "cpu", max_length)  # its session is made here
    finally:
        onnx_export.FUSION_OFF, ort_runtime.DISABLED_FUSIONS = saved


def _served(model: Any) -> Callable[[list[str]], Any]:
    return lambda texts: model.served_logits(model.tokenize(texts))


def layer_norm_kernels(
    shape: tuple[int, int, int] = (16, 24, 384), calls: int = 500
) -> dict[str, float]:
    """Microseconds per call, one thread: the fused SkipLayerNormalization against Add then
    LayerNormalization, each a one-node graph run with graph optimisations off."""
    import time

    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    hidden = shape[-1]
    norm = [numpy_helper.from_array(np.ones(hidden, np.float32), "gamma"),
            numpy_helper.from_array(np.zeros(hidden, np.float32), "beta")]
    graphs = {
        "SkipLayerNormalization": [helper.make_node(
            "SkipLayerNormalization", ["x", "skip", "gamma", "beta"], ["y"],
            domain="com.microsoft", epsilon=1e-12)],
        "Add + LayerNormalization": [
            helper.make_node("Add", ["x", "skip"], ["sum"]),
            helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"],
                             axis=-1, epsilon=1e-12)],
    }
    rng = np.random.default_rng(0)
    feeds = {name: rng.standard_normal(shape, dtype=np.float32) for name in ("x", "skip")}
    out: dict[str, float] = {}
    for name, nodes in graphs.items():
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(shape))
                         for k in feeds],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], norm)
        model = helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        model.ir_version = 9  # what this onnxruntime reads
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        for _ in range(50):
            session.run(None, feeds)
        started = time.process_time()
        for _ in range(calls):
            session.run(None, feeds)
        out[name] = (time.process_time() - started) / calls * 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    parser = run_parser(__doc__.splitlines()[0])
    parser.add_argument("--sub-batches", type=int, nargs="+", default=[0, 8, 16, 32])
    args = parser.parse_args(argv)

    from predictor.loading import load_classifier
    from training.measure import texts_per_second

    texts, temperature = run_setup(args)
    table: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cpu-serving-") as work:
        models = {
            "torch": load_classifier(args.run_dir, "cpu", args.max_length),
            "int8, SLN fused": _export(args.run_dir, Path(work) / "fused", args.max_length,
                                       fuse_skip_layer_norm=True),
            "int8": _export(args.run_dir, Path(work) / "now", args.max_length,
                            fuse_skip_layer_norm=False),
        }
        for _ in range(args.passes):  # the best pass of each counts, as in texts_per_second
            for name, model in models.items():
                model.temperature = temperature
                row = table.setdefault(name, {})
                for size in args.sub_batches:
                    model.sub_batch = size
                    speed = texts_per_second(_served(model), texts, cores=args.threads)[1]
                    row[size] = max(row.get(size, 0.0), speed)
    sizes = args.sub_batches
    print("| texts/s at sub-batch | " + " | ".join(str(s) for s in sizes) + " |")
    print("| --- |" + " ---: |" * len(sizes))
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[s]:.0f}" for s in sizes) + " |")
    torch_row = table["torch"]
    for name in [n for n in table if n != "torch"]:
        print(f"| {name} / torch | " + " | ".join(
            f"{table[name][s] / torch_row[s]:.2f}x" for s in sizes) + " |")
    best = {name: max(row.values()) for name, row in table.items()}
    print("best of each: " + ", ".join(f"{n} {v:.0f}" for n, v in best.items())
          + f"; int8 / torch {best['int8'] / best['torch']:.2f}x")
    kernels = layer_norm_kernels()
    print("one thread, 16 x 24 x 384: " + ", ".join(
        f"{name} {us:.0f} us" for name, us in kernels.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
