"""``catmatch train`` end to end on a small subset: train, evaluate, publish, load, classify."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from catmatch.commands import train as train_command
from core.categories import LABELS
from core.settings import load_settings
from modelstore import ModelStore
from training.data import DataConfig, prepare_data

pytestmark = pytest.mark.integration

SMALL_DATA = DataConfig(
    synthetic_per_class=6, synthetic_validation_per_class=1, shop_eval_per_class=3
)
MODEL_FILES = {
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "catmatch.json",
    "metrics.json",
    "training_config.json",
    "confusion_matrix.png",
    "README.md",
    "baseline/model.joblib",
    "baseline/metrics.json",
    "baseline/confusion_matrix.png",
    "baseline/catmatch.json",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    prepare_data(out, SMALL_DATA)
    return out


def run_train(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    return args.func(args, load_settings(None))


def smoke_args(data_dir: Path, tmp_path: Path) -> list[str]:
    return [
        "--data",
        str(data_dir),
        "--store",
        str(tmp_path / "store"),
        "--name",
        "cm-smoke",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--limit",
        "300",
        "--epochs",
        "1",
        "--max-length",
        "16",
        "--no-progress",
        "--device",
        "cpu",
    ]


@pytest.mark.timeout(900)  # trains, exports to ONNX int8 and times both: slow on a busy CPU
def test_train_publishes_both_models(data_dir: Path, tmp_path: Path, capsys):
    assert run_train(*smoke_args(data_dir, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "published cm-smoke v1" in out and "published cm-smoke-tfidf v1" in out

    store = ModelStore.from_uri(tmp_path / "store")
    assert sorted(store.models()) == ["cm-smoke", "cm-smoke-tfidf"]
    mv = store.resolve("cm-smoke", "latest")
    assert mv.version == "v1" and mv.runtime == "transformers"
    assert len(mv.info["data_hash"]) == 64 and mv.info["task"] == "classification"
    assert mv.info["code_commit"] and "MiniLM" in mv.info["base_model"]
    path = store.local_path("cm-smoke", "v1")
    files = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert MODEL_FILES <= files

    metrics = json.loads((path / "metrics.json").read_text())
    for model in ("transformer", "baseline"):
        for split in ("hs_test", "shop_eval"):
            res = metrics[model][split]
            assert 0 <= res["accuracy"] <= 1 and 0 <= res["macro_f1"] <= 1
            assert set(res["per_class_f1"]) == set(LABELS) and res["examples"] >= 21
        assert metrics[model]["latency_ms_per_text"] > 0
    # the repo's hand-written titles are scored too (never trained on)
    assert metrics["eval_sets"] == ["hs_test", "shop_eval", "handwritten", "korean"]
    assert metrics["transformer"]["handwritten"]["examples"] == 420
    assert metrics["transformer"]["korean"]["examples"] == 126
    measured = metrics["measured"]
    temperature = measured["transformer"]["torch"]["temperature"]
    assert temperature > 0 and measured["transformer"]["int8"]["texts_per_s_batch64"] > 0
    assert json.loads((path / "catmatch.json").read_text())["temperature"] == temperature
    assert "ece_after" in measured["baseline"]["sets"]["korean"]["calibration"]
    assert "handwritten" in out and "handwritten_accuracy" in mv.metrics
    assert metrics["data"]["used"]["train"] == 300 and metrics["limit"] == 300
    assert mv.metrics["accuracy"] == metrics["transformer"]["hs_test"]["accuracy"]
    assert json.loads((path / "training_config.json").read_text())["finetune"]["epochs"] == 1
    with Image.open(path / "confusion_matrix.png") as image:
        assert image.format == "PNG"
    assert "synthetic" in (path / "README.md").read_text()

    baseline = store.resolve("cm-smoke-tfidf", "latest")
    assert baseline.version == "v1" and baseline.runtime == "sklearn"
    assert baseline.metrics["accuracy"] == metrics["baseline"]["hs_test"]["accuracy"]
    from training.baseline import load_baseline, predict_baseline
    from training.data import read_split, subset

    # the published pipeline reproduces the reported accuracy on the same test subset
    pipeline = load_baseline(store.local_path("cm-smoke-tfidf", "v1"))
    test_rows = subset(read_split(data_dir, "test"), 75, seed=13)
    predicted = predict_baseline(pipeline, [r["text"] for r in test_rows])
    truth = [r["label_id"] for r in test_rows]
    accuracy = sum(int(p == t) for p, t in zip(predicted, truth, strict=True)) / len(truth)
    assert accuracy == pytest.approx(metrics["baseline"]["hs_test"]["accuracy"], abs=1e-4)
    assert accuracy > 0.3  # far above chance (1/21) even from 300 rows

    from predictor.loading import load_classifier

    classifier = load_classifier(path, device="cpu")
    assert classifier.labels == LABELS and classifier.version == "v1"
    prediction = classifier.classify_texts(["Stainless steel kettle 1.7 l", "Oak dining table"], 3)
    assert prediction.rows == 2 and set(prediction.label_ids.tolist()) <= set(range(len(LABELS)))


def test_a_failed_run_publishes_nothing(data_dir: Path, tmp_path: Path, monkeypatch):
    from training import finetune

    def broken(*args, **kwargs):
        raise RuntimeError("simulated training failure")

    monkeypatch.setattr(finetune, "train_classifier", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        run_train(*smoke_args(data_dir, tmp_path))
    store_dir = tmp_path / "store"
    assert not store_dir.exists() or ModelStore.from_uri(store_dir).models() == []
    assert not any((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else True
