"""Measure a trained model the way it is served: accuracy, calibration, speed, size, int8.

:func:`measure_transformer` loads a transformers model directory with the predictor's own
loader, fits the calibration temperature on the validation rows, scores every evaluation
set (accuracy, macro-F1, per-class F1, confusion matrix, ECE before and after scaling, the
confident share at ``min_score``), times it at batch 64 on the CPU, exports it to ONNX with
dynamic int8 weights and scores and times that too. :func:`measure_sklearn` does the same
for the TF-IDF model (no export). The figures end up in ``metrics.json`` and in the table
``catmatch train`` prints (:mod:`training.candidates`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.categories import LABELS
from core.modelformat import read_metadata, write_metadata
from predictor.loading import load_classifier
from predictor.onnx_runtime import load_onnx
from predictor.token_classifier import TokenClassifier
from schemas.product import ProductMessage, product_text
from training import baseline, data
from training.artifacts import write_metrics, write_training_config
from training.calibration import DEFAULT_MIN_SCORE, calibration_report, fit_temperature
from training.evaluate import classification_metrics, read_labelled
from training.generator import generate_products
from training.korean_route import BLEND_WEIGHT, fit_korean_route
from training.leakage import EVAL_DIR
from training.onnx_export import export_onnx

log = logging.getLogger(__name__)

SPEED_BATCH = 64
SPEED_TEXTS = 1024  # generated titles (seed 11) timed at batch 64
EVAL_FILES = {
    "handwritten": EVAL_DIR / "shop_titles_handwritten.jsonl",
    "korean": EVAL_DIR / "shop_titles_korean_handwritten.jsonl",
}
Sets = dict[str, tuple[list[str], list[int]]]
LogitFn = Callable[[list[str]], np.ndarray]


def speed_texts(count: int = SPEED_TEXTS) -> list[str]:
    """What the speed figures time: generated shop titles as served (brand + title)."""
    return [product_text(ProductMessage.model_validate(p.message))
            for p in generate_products(count, seed=11)]


def batched_logits(
    logits_of: LogitFn, texts: Sequence[str], batch: int = SPEED_BATCH
) -> np.ndarray:
    """Logits for ``texts`` in request order, ``batch`` texts per call."""
    parts = [logits_of(list(texts[i : i + batch])) for i in range(0, len(texts), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, len(LABELS)), dtype=np.float32)


def texts_per_second(
    logits_of: LogitFn, texts: Sequence[str], batch: int = SPEED_BATCH, cores: int = 2
) -> tuple[float, float]:
    """Texts per second at ``batch`` (tokenizing included) after one warm-up batch, the best
    of two passes: by the wall clock, and by this process's CPU time spread over ``cores``
    (what ``cores`` idle cores would do: on a machine shared with other jobs at ``nice 19``
    the wall-clock figure mostly measures the others)."""
    logits_of(list(texts[:batch]))
    wall = cpu = 0.0
    for _ in range(2):
        started, cpu_started = time.perf_counter(), time.process_time()
        batched_logits(logits_of, texts, batch)
        wall = max(wall, len(texts) / (time.perf_counter() - started))
        used = max(time.process_time() - cpu_started, 1e-9)
        cpu = max(cpu, len(texts) * cores / used)
    return round(wall, 1), round(cpu, 1)


def score_sets(
    logits_of: LogitFn, sets: Sets, temperature: float, min_score: float
) -> dict[str, Any]:
    """Accuracy, macro-F1, confusion and calibration on every evaluation set."""
    out: dict[str, Any] = {}
    for key, (texts, truth) in sets.items():
        logits = batched_logits(logits_of, texts)
        res = classification_metrics(truth, logits.argmax(axis=1).tolist(), LABELS)
        res["calibration"] = calibration_report(logits, truth, temperature, min_score)
        out[key] = res
    return out


def _measure(
    logits_of: LogitFn, validation: tuple[list[str], list[int]], sets: Sets,
    speed_texts: Sequence[str], min_score: float, cores: int = 2,
    served: Callable[[float], LogitFn] | None = None,
) -> dict[str, Any]:
    """The temperature is fitted on ``logits_of``'s validation logits; the speed and the
    sets are measured on ``served(temperature)`` (default: ``logits_of`` itself)."""
    val_logits = batched_logits(logits_of, validation[0])
    temperature = fit_temperature(val_logits, validation[1])
    serve = served(temperature) if served is not None else logits_of
    wall, cpu = texts_per_second(serve, speed_texts, cores=cores)
    return {
        "temperature": temperature,
        "sets": score_sets(serve, sets, temperature, min_score),
        "texts_per_s_batch64_wall": wall,
        "texts_per_s_batch64": cpu,  # per 2 cores of CPU time (see texts_per_second)
        "load_average": _load_average(),
    }


def _measure_served(
    model: TokenClassifier, validation: tuple[list[str], list[int]], sets: Sets,
    speed_texts: Sequence[str], min_score: float, cores: int = 2,
) -> dict[str, Any]:
    """:func:`_measure` of a token classifier: the temperature is fitted on the network's
    logits; the speed and the sets are measured as served, so a version with a Korean route
    (:mod:`predictor.korean_route`) is scored with it on its Hangul rows and, where it has
    a blend weight, with the blend on the others (``network_alone``: each set's accuracy
    without the route)."""
    network: LogitFn = lambda t: model.logits(model.tokenize(t))  # noqa: E731

    def served(temperature: float) -> LogitFn:
        model.temperature = temperature  # what the served route logits are scaled for
        return lambda t: model.served_logits(model.tokenize(t))

    result = _measure(network, validation, sets, speed_texts, min_score, cores=cores,
                      served=served)
    route = model.korean
    if route is not None:
        result["korean_route"] = {"temperature": route.temperature,
                                  "blend_weight": route.blend_weight}
        result["network_alone"] = {
            key: round(float(np.mean(batched_logits(network, texts).argmax(axis=1)
                                     == np.asarray(truth))), 4)
            for key, (texts, truth) in sets.items()}
    return result


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure_transformer(
    model_dir: Path, validation: tuple[list[str], list[int]], sets: Sets,
    speed_texts: Sequence[str], *, max_length: int, threads: int | None = None,
    min_score: float = DEFAULT_MIN_SCORE, int8: bool = True,
) -> dict[str, Any]:
    """Torch fp32 and (``int8``) ONNX int8 figures of a transformers model directory."""
    import torch

    model_dir = Path(model_dir)
    torch_model = load_classifier(model_dir, "cpu", max_length)
    if threads:
        torch.set_num_threads(threads)
    result: dict[str, Any] = {
        "torch": _measure_served(torch_model, validation, sets, speed_texts, min_score,
                                 cores=threads or 2),
        "size_mb": round(sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e6, 1),
    }
    if int8:
        with tempfile.TemporaryDirectory(prefix="int8-") as work:
            out = Path(work) / "int8"
            started = time.perf_counter()
            export_onnx(model_dir, out, quantization="dynamic-int8", max_length=max_length,
                        min_agreement=0.0)
            onnx_model = load_onnx(out, "cpu", max_length)
            result["int8"] = _measure_served(onnx_model, validation, sets, speed_texts,
                                             min_score, cores=threads or 2)
            result["int8"]["size_mb"] = round((out / "model.onnx").stat().st_size / 1e6, 1)
            result["int8"]["export_seconds"] = round(time.perf_counter() - started, 1)
    return result


def measure_sklearn(
    pipeline: Any, validation: tuple[list[str], list[int]], sets: Sets,
    speed_texts: Sequence[str], *, min_score: float = DEFAULT_MIN_SCORE,
) -> dict[str, Any]:
    """The same figures for a text pipeline with ``predict_proba`` (log-probabilities stand
    in for logits: temperature scaling of ``log p`` is what the sklearn runtime serves)."""
    def logits_of(texts: list[str]) -> np.ndarray:
        return baseline.log_probs(pipeline, texts, len(LABELS)).astype(np.float32)

    return _measure(logits_of, validation, sets, speed_texts, min_score, cores=1)  # one thread


def measure_run_dir(
    model_dir: Path, pipeline: Any, validation: tuple[list[str], list[int]], sets: Sets,
    speed_texts: Sequence[str], *, max_length: int, threads: int | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
) -> dict[str, Any]:
    """Measure the transformer in ``model_dir`` and the TF-IDF ``pipeline`` (its
    ``baseline/``); write each fitted temperature and ``min_score`` into its
    ``catmatch.json``."""
    transformer = measure_transformer(
        model_dir, validation, sets, speed_texts, max_length=max_length, threads=threads,
        min_score=min_score,
    )
    base = measure_sklearn(pipeline, validation, sets, speed_texts, min_score=min_score)
    for directory, temperature in (
        (Path(model_dir), transformer["torch"]["temperature"]),
        (Path(model_dir) / "baseline", base["temperature"]),
    ):
        card = read_metadata(directory)
        if card is not None:
            write_metadata(directory, card.model_copy(
                update={"temperature": temperature, "min_score": min_score}
            ))
    return {"transformer": transformer, "baseline": base, "min_score": min_score}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.measure RUN_DIR [--data DIR]``: measure a kept run directory
    (``catmatch train --no-publish``) again, as ``catmatch train`` does at its end, and
    update its ``metrics.json`` and cards."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m training.measure")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, default=Path("var/data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    parser.add_argument("--fit-korean-route", action="store_true",
                        help="fit the Korean route on --data's train split first (a run "
                        "made before catmatch train fitted one, or to set --ngram-blend)")
    parser.add_argument("--ngram-blend", type=float, default=BLEND_WEIGHT,
                        help="with --fit-korean-route: the route's weight in English rows")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    metrics = json.loads((args.run_dir / "metrics.json").read_text(encoding="utf-8"))
    config = json.loads((args.run_dir / "training_config.json").read_text(encoding="utf-8"))
    validation = data.texts_and_labels(data.read_split(args.data, "validation"))
    max_length = int(config["finetune"]["max_length"])
    if args.fit_korean_route:
        config["korean_route"] = fit_korean_route(
            args.run_dir, data.texts_and_labels(data.read_split(args.data, "train")),
            validation, max_length=max_length, seed=int(config["finetune"]["seed"]),
            blend_weight=args.ngram_blend)
        write_training_config(args.run_dir, config)
    index = {name: i for i, name in enumerate(LABELS)}
    sets: Sets = {}
    for key, path in EVAL_FILES.items():
        texts, gold = read_labelled(path)
        sets[key] = (texts, [index[g] if isinstance(g, str) else int(g) for g in gold])
    metrics["measured"] = measure_run_dir(
        args.run_dir, baseline.load_baseline(args.run_dir / "baseline"), validation, sets,
        speed_texts(), max_length=max_length, threads=args.threads,
        min_score=args.min_score,
    )
    write_metrics(args.run_dir, metrics)
    print(json.dumps({k: v for k, v in metrics["measured"].items()}, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
