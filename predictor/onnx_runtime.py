"""The ONNX Runtime runtime: a sequence classifier exported to ``model.onnx``, served without torch.

A model directory for this runtime (``training.onnx_export`` writes it) holds:

- ``model.onnx``: inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the
  model has them), INT64 ``[batch, sequence]``; output ``logits`` FP32 ``[batch, labels]``;
  fp32 weights or dynamically quantised int8 ones (``catmatch.json`` ``quantization``);
- ``tokenizer.json`` and ``config.json`` of the source model (labels from ``id2label``, and the
  limits requests are checked against: vocabulary, positions, token types);
- ``catmatch.json`` with ``runtime: "onnx"``.

Texts are tokenized with the same configuration as the transformers runtime
(:func:`core.tokenization.load_tokenizer`), and the trimming, length-sorted sub-batches, softmax
and top-k are the same functions (:mod:`predictor.token_classifier`), so both runtimes answer
alike and clients (the workers send INT64 token ids) do not change. One ``InferenceSession``
per loaded version, CPU execution provider, every graph optimisation, intra-op threads from
the CPU quota (:func:`predictor.cpu.inference_threads`). Nothing here imports torch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from core.modelformat import (
    DEFAULT_VERSION,
    ONNX_MODEL_FILE,
    QUANTIZATIONS,
    check_onnx_dir,
    read_json_object,
    read_metadata,
)
from core.names import Runtime
from predictor.batches import TokenizedBatch
from predictor.cpu import inference_threads
from predictor.loading import check_card_labels, labels_from_id2label
from predictor.token_classifier import ONNX_SUB_BATCH, TokenClassifier, TokenSpace

log = logging.getLogger(__name__)

RUNTIME = Runtime.ONNX
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"


# onnxruntime fuses residual Add + LayerNormalization into its SkipLayerNormalization
# kernel when it loads a graph; on the CPU that kernel ran 4.7x slower than the two ops it
# replaces (batch 16 x 24 tokens x 384, one thread: 830 against 177 us, onnxruntime 1.31.1
# on this Xeon, scripts/bench_cpu_serving.py), a quarter of the int8 graph's time. The
# export leaves the pair unfused too (training.onnx_export.FUSION_OFF); a graph that
# already holds the fused op (an export made before) runs as it is.
DISABLED_FUSIONS: tuple[str, ...] = ("SkipLayerNormFusion",)


def make_session(model_path: Path, threads: int, profile_prefix: Path | None = None) -> Any:
    """An ``InferenceSession`` on the CPU: all graph optimisations, ``threads`` intra-op threads
    (with ``profile_prefix``: onnxruntime's profiler on, its file named from that prefix)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    # Idle intra-op threads sleep instead of spinning between runs: a spinning pool burns
    # CPU that a pod's quota or a shared node needs elsewhere (the broker and the workers,
    # on one machine), which is ONNX Runtime's own advice for such hosts. It costs a little
    # latency per call on dedicated cores; not measured separately here.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_FUSIONS),
    )


class OnnxClassifier(TokenClassifier):
    """A loaded ONNX sequence classifier with its tokenizer and label names (runtime "onnx")."""

    runtime = RUNTIME
    device = "cpu"  # where its tensors live; nothing to free on eviction

    def __init__(
        self,
        model_path: Path,
        space: TokenSpace,
        *,
        quantization: str = "none",
        threads: int | None = None,
        sub_batch: int = ONNX_SUB_BATCH,
    ) -> None:
        super().__init__(space, sub_batch)
        self.model_path = Path(model_path)
        self.quantization = quantization
        self.threads = threads or inference_threads()
        self._open()

    def _open(self) -> None:
        self.session = make_session(self.model_path, self.threads)
        names = [i.name for i in self.session.get_inputs()]
        unknown = sorted(set(names) - set(INPUT_NAMES))
        if unknown or not {"input_ids", "attention_mask"} <= set(names):
            raise ValueError(
                f"{self.model_path}: inputs {names}; expected input_ids, attention_mask "
                "(and optionally token_type_ids)"
            )
        self.input_names = tuple(names)
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_name = OUTPUT_NAME if OUTPUT_NAME in outputs else outputs[0]

    def logits(self, batch: TokenizedBatch) -> np.ndarray:
        """fp32 logits ``[B, C]`` of one session run (no trimming, no splitting)."""
        (logits,) = self.session.run([self.output_name], self._feeds(batch))
        return np.asarray(logits, dtype=np.float32)

    def profile(self, batches: Iterable[TokenizedBatch], prefix: Path) -> Path:
        """Run ``batches`` in a session of their own with onnxruntime's profiler on and return
        its JSON file (named from ``prefix``); the served session is not touched."""
        session = make_session(self.model_path, self.threads, profile_prefix=prefix)
        for batch in batches:
            session.run([self.output_name], self._feeds(batch))
        return Path(session.end_profiling())

    def _feeds(self, batch: TokenizedBatch) -> dict[str, np.ndarray]:
        feeds = {
            "input_ids": np.ascontiguousarray(batch.input_ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(batch.attention_mask, dtype=np.int64),
        }
        if "token_type_ids" in self.input_names:
            types = batch.token_type_ids
            feeds["token_type_ids"] = (
                np.zeros_like(feeds["input_ids"])
                if types is None
                else np.ascontiguousarray(types, dtype=np.int64)
            )
        return feeds

    def __getstate__(self) -> dict[str, Any]:
        # ModelServer(workers=N) pickles the loaded model into each child; a session is not
        # picklable, so each child opens its own from the same file.
        state = self.__dict__.copy()
        state.pop("session", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.threads = inference_threads()  # OMP_NUM_THREADS=1 in the children
        self._open()


def load_onnx(model_dir: Path, device: Any = "auto", max_length: int = 128) -> OnnxClassifier:
    """Load ``model.onnx``, its tokenizer, labels and limits into a ready classifier.

    Labels come from ``config.json``'s ``id2label`` (else the card's ``labels``); a card that
    names labels must agree with ``config.json``.
    """
    if str(device) == "cuda":
        raise ValueError("the onnx runtime runs on the CPU here; use --device cpu or auto")
    model_dir = check_onnx_dir(model_dir)
    card = read_metadata(model_dir)
    extra: dict[str, Any] = dict(card.model_extra or {}) if card is not None else {}
    config = read_json_object(model_dir / "config.json")
    if config.get("id2label"):
        labels = labels_from_id2label(config["id2label"])
        check_card_labels(model_dir, card, labels)
    elif card is not None and card.labels:
        labels = list(card.labels)
    else:
        raise ValueError(f"{model_dir}: no labels (config.json id2label or catmatch.json labels)")
    quantization = str(extra.get("quantization", "none"))
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"{model_dir}: quantization must be one of {QUANTIZATIONS}")
    version = card.version if card is not None else DEFAULT_VERSION
    space = TokenSpace.from_config(model_dir, config, labels, version, max_length)
    classifier = OnnxClassifier(model_dir / ONNX_MODEL_FILE, space, quantization=quantization)
    log.info(
        "loaded %s version=%s labels=%d onnxruntime cpu quantization=%s threads=%d "
        "max_length=%d",
        model_dir, version, len(labels), quantization, classifier.threads, space.max_length,
    )
    return classifier
