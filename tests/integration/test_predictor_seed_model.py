"""The seed-model recipe end to end on a small subset: fit, evaluate, write, load, serve."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.categories import LABELS
from core.modelformat import read_metadata
from predictor.loading import load_classifier
from training.builders import build_seed_model
from training.builders.artifacts import file_digest

pytestmark = pytest.mark.integration

QUICK = {"max_examples": 600, "steps": 60, "feature_tokens": 24}


@pytest.fixture(scope="module")
def quick_seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_seed_model(tmp_path_factory.mktemp("seed") / "seed", **QUICK)


def test_seed_directory_card_and_permissions(quick_seed: Path):
    card = read_metadata(quick_seed)
    assert card.name == "category-match-seed"
    assert card.version == f"seed-{card.data_hash[:8]}"
    assert card.labels == list(LABELS)
    assert card.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert 0.0 <= card.metrics["heldout_accuracy"] <= 1.0
    assert card.metrics["heldout_examples"] > 0 and card.metrics["steps"] == 60
    for path in quick_seed.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert stat.S_IMODE(quick_seed.stat().st_mode) == 0o755


def test_seed_model_learned_something(quick_seed: Path):
    # 21 classes: chance is ~5-20%; even this quick fit is far above it.
    assert read_metadata(quick_seed).metrics["heldout_accuracy"] > 0.5
    classifier = load_classifier(quick_seed, "cpu", 128)
    prediction = classifier.classify_texts(
        ["Horses; live, pure-bred breeding animals", "Motor cars with spark-ignition engine"], 3
    )
    labels = [classifier.labels[i] for i in prediction.label_ids.tolist()]
    assert labels[0] == "Live animals; animal products"


def test_seed_build_is_deterministic(quick_seed: Path, tmp_path: Path):
    again = build_seed_model(tmp_path / "seed", **QUICK)
    assert file_digest(again / "model.safetensors") == file_digest(quick_seed / "model.safetensors")
    assert read_metadata(again).version == read_metadata(quick_seed).version


def test_seed_model_is_served(quick_seed: Path, predictor_factory):
    from tests.fixtures.predictor import post_json

    server = predictor_factory(quick_seed, model_name="seed")
    status, body = post_json(
        f"{server.url}/v1/models/seed:predict",
        {"instances": ["Horses; live, pure-bred breeding animals"]},
    )
    assert status == 200, body
    assert body["model_version"] == read_metadata(quick_seed).version
    assert body["predictions"][0]["label"] in LABELS
