"""Model-directory building blocks: HS data, split, metrics, tokenizer, atomic writes, cards."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from core.categories import LABELS
from core.modelformat import ModelMetadata, read_metadata, write_metadata
from core.tokenization import configure, effective_max_length, load_tokenizer
from training.builders.artifacts import atomic_model_dir, base_model_dir, make_readable
from training.builders.hs_data import accuracy_and_macro_f1, load_hs_examples, stratified_split
from training.builders.tiny import check_labels


def test_hs_examples_map_to_the_21_categories():
    data = load_hs_examples()
    assert data.labels == list(LABELS)
    assert len(data.texts) > 5000 and len(data.texts) == len(set(data.texts))
    assert set(data.label_ids) == set(range(21))
    assert len(data.data_hash) == 64 and load_hs_examples().data_hash == data.data_hash


def test_hs_examples_from_a_small_file(tmp_path: Path):
    rows = [
        {"hscode": "01", "level": "2", "section": "I", "description": "Animals; live"},
        {"hscode": "010121", "level": "6", "section": "I", "description": "Horses;  live"},
        {"hscode": "010121", "level": "6", "section": "TOTAL", "description": "ignored"},
        {"hscode": "847130", "level": "6", "section": "XVI", "description": "Laptops"},
        {"hscode": "847131", "level": "6", "section": "XVI", "description": "Laptops"},
    ]
    path = tmp_path / "hs.json"
    path.write_text(json.dumps({"hscodes": rows}))
    data = load_hs_examples(path)
    assert data.texts == ["Horses; live", "Laptops"]
    assert [LABELS[i] for i in data.label_ids] == [LABELS[0], LABELS[15]]


def test_stratified_split_is_deterministic_and_disjoint():
    labels = [0] * 50 + [1] * 10 + [2] * 1
    train, test = stratified_split(labels, 0.2, seed=3)
    again = stratified_split(labels, 0.2, seed=3)
    assert train.tolist() == again[0].tolist() and test.tolist() == again[1].tolist()
    assert not set(train) & set(test) and len(train) + len(test) == len(labels)
    held = np.asarray(labels)[test]
    assert (held == 0).sum() == 10 and (held == 1).sum() == 2 and (held == 2).sum() == 0


def test_accuracy_and_macro_f1():
    acc, f1 = accuracy_and_macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    assert acc == pytest.approx(0.75)
    assert f1 == pytest.approx((2 / 3 + 0.8) / 2)


def test_tokenizer_pads_to_longest_and_truncates():
    tok = load_tokenizer(base_model_dir(), 8)
    short, long_ = tok.encode_batch(["a kettle", "a very long product title " * 10])
    assert len(short.ids) == len(long_.ids) == 8
    tok = configure(tok, 128)
    a, b = tok.encode_batch(["kettle", "steel kettle with lid"])
    assert len(a.ids) == len(b.ids) < 128 and a.attention_mask[-1] == 0


def test_effective_max_length():
    assert effective_max_length(128, 512) == 128
    assert effective_max_length(1024, 512) == 512
    assert effective_max_length(600, 4096) == 512


def test_labels_are_checked():
    assert check_labels([" a", "b "]) == ["a", "b"]
    for bad in ([], ["a", ""], ["a", "a"]):
        with pytest.raises(ValueError):
            check_labels(bad)


def test_metadata_round_trip(tmp_path: Path):
    card = ModelMetadata(name="m", version="v1", labels=["a"], metrics={"acc": 0.5}, extra=1)
    write_metadata(tmp_path, card)
    back = read_metadata(tmp_path)
    assert back.version == "v1" and back.labels == ["a"] and back.metrics == {"acc": 0.5}
    assert back.model_extra == {"extra": 1} and back.created.tzinfo is not None
    assert read_metadata(tmp_path / "none") is None
    (tmp_path / "catmatch.json").write_text('{"version": "x"}')
    with pytest.raises(ValueError):
        read_metadata(tmp_path)


def test_atomic_model_dir_replaces_only_model_dirs(tmp_path: Path):
    out = tmp_path / "model"
    with atomic_model_dir(out) as tmp:
        (tmp / "catmatch.json").write_text("{}")
        (tmp / "w").write_text("1")
    assert (out / "w").read_text() == "1"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    with atomic_model_dir(out) as tmp:
        (tmp / "catmatch.json").write_text("{}")
    assert not (out / "w").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"], "temp dirs left behind"

    with pytest.raises(RuntimeError), atomic_model_dir(out) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("boom")
    assert (out / "catmatch.json").exists() and not (out / "half").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]

    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError), atomic_model_dir(other):
        pass
    assert (other / "notes.txt").read_text() == "keep"


def test_make_readable(tmp_path: Path):
    f = tmp_path / "d" / "w.safetensors"
    f.parent.mkdir()
    f.write_text("x")
    f.chmod(0o600)
    make_readable(tmp_path)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644


def test_tiny_model_directory(tiny_model_dir: Path):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "catmatch.json"} <= names
    for p in tiny_model_dir.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    config = json.loads((tiny_model_dir / "config.json").read_text())
    card = read_metadata(tiny_model_dir)
    assert [config["id2label"][str(i)] for i in range(len(card.labels))] == card.labels
    tok = json.loads((tiny_model_dir / "tokenizer.json").read_text())
    assert tok["padding"]["strategy"] == "BatchLongest"
    assert tok["truncation"]["max_length"] == 128
