"""The synthetic product generator and the HS section list."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from core.categories import CATEGORIES, LABELS, lookup, same_category
from schemas import ProductMessage
from training.generator import (
    SYNTHETIC_HEADER,
    TruthWriter,
    generate_product,
    generate_products,
    read_truth,
    write_truth,
)
from training.generator.products import HINT_TAGS, VOCAB
from training.generator.titles import STYLES, title_case

ROMANS = "I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX XXI".split()


def test_categories_are_the_21_hs_sections_in_order() -> None:
    assert [c.roman for c in CATEGORIES] == ROMANS
    assert [c.index for c in CATEGORIES] == list(range(21))
    assert len({c.key for c in CATEGORIES}) == len({c.name for c in CATEGORIES}) == 21
    assert LABELS[14] == "Base metals and articles of base metal"


@pytest.mark.parametrize(
    "alias",
    ["XV", "Section XV", "base_metals", "BASE METALS AND ARTICLES OF BASE METAL", "14", 14],
)
def test_lookup_accepts_every_alias(alias: str | int) -> None:
    found = lookup(alias)
    assert found is not None and found.roman == "XV"


def test_lookup_full_hs_title_and_unknown() -> None:
    full = "Vehicles, aircraft, vessels and associated transport equipment"
    assert lookup(full) is CATEGORIES[16]
    assert lookup("Kitchen") is None and lookup(21) is None and lookup(-1) is None
    assert same_category("Works of art", "XXI")
    assert not same_category("Works of art", "XX")
    assert not same_category("nonsense", "nonsense")


def test_vocabulary_covers_every_section() -> None:
    assert set(VOCAB) == {c.key for c in CATEGORIES}
    for key, vocab in VOCAB.items():
        assert len(vocab.types) >= 8, key
        assert len(vocab.brands) >= 5, key


def test_same_seed_gives_the_same_products_and_other_seeds_differ() -> None:
    first = [p.message for p in generate_products(300, seed=42)]
    again = [p.message for p in generate_products(300, seed=42)]
    other = [p.message for p in generate_products(300, seed=43)]
    assert first == again
    titles_42 = [m["title"] for m in first]
    titles_43 = [m["title"] for m in other]
    assert sum(a != b for a, b in zip(titles_42, titles_43, strict=True)) > 250


def test_any_slice_can_be_regenerated() -> None:
    whole = list(generate_products(50, seed=5))
    tail = list(generate_products(20, seed=5, start=30))
    assert [p.message for p in whole[30:]] == [p.message for p in tail]
    assert generate_product(5, 17) == whole[17]


def test_product_ids_are_unique_and_follow_the_pattern() -> None:
    products = list(generate_products(5000, seed=9))
    ids = [p.product_id for p in products]
    assert len(set(ids)) == 5000
    assert ids[:3] == ["gen-9-0", "gen-9-1", "gen-9-2"]
    assert all(re.fullmatch(r"gen-9-\d+", i) for i in ids)


def test_every_product_is_a_valid_message_without_the_answer() -> None:
    allowed = set(ProductMessage.model_fields)
    for product in generate_products(2100, seed=1):
        ProductMessage.model_validate(product.message)
        assert set(product.message) <= allowed
        assert "event_time" not in product.message  # filled by the producer at send time


def test_category_hints_never_leak_the_section() -> None:
    names = {c.name.lower() for c in CATEGORIES} | {c.hs_title.lower() for c in CATEGORIES}
    seen_hints = 0
    for product in generate_products(2100, seed=3):
        for hint in product.message.get("category_hints", []):
            seen_hints += 1
            assert hint in HINT_TAGS
            assert hint.lower() not in names and lookup(hint) is None
    assert seen_hints > 100


def test_categories_are_balanced_in_every_block_of_21() -> None:
    products = list(generate_products(21 * 10, seed=4))
    for block in range(10):
        chunk = products[block * 21 : (block + 1) * 21]
        assert {p.category.key for p in chunk} == {c.key for c in CATEGORIES}
    # ...but not in a fixed order
    assert [p.category for p in products[:21]] != [p.category for p in products[21:42]]


def test_titles_are_varied_and_use_every_style() -> None:
    products = list(generate_products(3000, seed=11))
    titles = [p.message["title"] for p in products]
    assert len(set(titles)) > 2900
    styles = Counter(p.style for p in products)
    assert set(styles) == set(STYLES)
    assert any("[" in t for t in titles) and any("pack" in t.lower() for t in titles)
    assert any(t.isupper() for t in titles) and any(" | " in t for t in titles)
    prices = [p.message["price"] for p in products if "price" in p.message]
    assert len(prices) > 2700 and min(prices) > 0
    assert {p.message.get("currency") for p in products} >= {"EUR", "USD", "GBP"}


def test_title_case_leaves_units_and_small_words() -> None:
    assert title_case("cast iron pan with lid 28 cm") == "Cast Iron Pan with Lid 28 cm"


def test_truth_file_round_trip(tmp_path: Path) -> None:
    products = list(generate_products(42, seed=2))
    path = tmp_path / "truth.csv"
    assert write_truth(path, products) == 42
    lines = path.read_text().splitlines()
    assert lines[0] == "product_id,category,hs_section"
    truth = read_truth(path)
    assert truth == {p.product_id: p.category.name for p in products}
    with TruthWriter(tmp_path / "streamed.csv") as writer:
        for product in products[:5]:
            writer.write(product)
    assert writer.rows == 5 and len(read_truth(tmp_path / "streamed.csv")) == 5


def test_synthetic_header() -> None:
    assert SYNTHETIC_HEADER == ("catmatch.synthetic", b"1")


def test_generate_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError):
        list(generate_products(-1))


def test_korean_titles_are_hangul_and_priced_in_won() -> None:
    korean = [p for p in generate_products(2100, seed=21) if p.style == "korean"]
    assert len(korean) > 100
    assert {p.category.key for p in korean} == {c.key for c in CATEGORIES}
    for product in korean:
        assert any("\uac00" <= ch <= "\ud7a3" for ch in product.message["title"])
        if "price" in product.message:
            assert product.message["currency"] == "KRW"
            assert product.message["language"] == "ko-KR"


def test_the_new_title_styles_look_like_their_names() -> None:
    products = list(generate_products(4200, seed=8))
    by_style: dict[str, list[str]] = {}
    for product in products:
        by_style.setdefault(product.style, []).append(product.message["title"])
    assert any(" + " in t or "kit with" in t or "free" in t for t in by_style["bundle"])
    assert any("pcs" in t or "w/" in t or " ss " in f" {t} " for t in by_style["abbreviated"])
    assert any("/" in t for t in by_style["specs"])
    foreign = ("bio", "neu", "avec", "für", "con", "noir", "schwarz", "nero", "inox", "NEU")
    assert any(any(w in t.split() for w in foreign) for t in by_style["foreign"])
    assert any(t != t.lower() and t != t.upper() for t in by_style["typos"])


def test_korean_vocabulary_is_wide_and_its_attributes_exist() -> None:
    from training.generator.products import KO_ROWS
    from training.generator.vocab_ko import KO_ATTRIBUTES

    assert set(KO_ROWS) == {c.key for c in CATEGORIES}
    for key, (_, rows) in KO_ROWS.items():
        assert len(rows) >= 15, key  # ~10 per section was too few to generalise from
        assert len({noun for noun, _, _ in rows}) == len(rows), key
        for _, keys, _ in rows:
            assert set(keys.split()) <= set(KO_ATTRIBUTES), (key, keys)
    korean = [p for p in generate_products(4200, seed=3) if p.style == "korean"]
    assert 0.09 < len(korean) / 4200 < 0.17  # about one title in eight


def test_each_product_type_is_in_one_section_and_border_goods_in_their_customs_one() -> None:
    where: dict[str, list[str]] = {}
    for key, vocab in VOCAB.items():
        for t in vocab.types:
            where.setdefault(t.noun.lower(), []).append(key)
    assert {noun: keys for noun, keys in where.items() if len(keys) > 1} == {}
    # decided by a heading's text or a note, not by the shop aisle (data format 4)
    assert where["ghee clarified butter"] == ["animal_products"]  # 0405.90
    assert where["horticultural perlite"] == ["stone_ceramic_glass"]  # 6806.20, expanded
    assert where["petroleum jelly"] == ["chemical_products"]  # 3304.99, for the skin
    assert where["cotton canvas tote bag"] == ["leather_travel_goods"]  # 4202.22
    assert where["stand-up paddle board"] == ["miscellaneous_manufactured"]  # 9506.29
    for gone in ("crossbow", "multivitamin tablets", "car wing mirror", "cork yoga block"):
        assert gone not in where  # the section depends on the variant
