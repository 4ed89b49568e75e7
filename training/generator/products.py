"""Synthetic shop products with a known category, for demos, load tests and agreement checks.

Deterministic: product ``n`` of seed ``s`` is always the same, so any slice can be
regenerated. Products come in blocks of 21, one random stream per block (seeded with
``"s:block:b"``), so categories are balanced: every block holds each HS section once, in a
shuffled order. The intended category is returned beside the message, never inside it.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.categories import CATEGORIES, Category
from training.generator.titles import STYLE_WEIGHTS, STYLES, build_description, build_title
from training.generator.titles_ko import KO_TAGS, build_korean_title
from training.generator.vocab import SectionVocab, with_types
from training.generator.vocab_i_x import VOCAB_I_X
from training.generator.vocab_ko import KO_VOCAB, KoRow
from training.generator.vocab_ko_more import KO_MORE_ROWS
from training.generator.vocab_more import MORE_TYPES
from training.generator.vocab_xi_xxi import VOCAB_XI_XXI

SYNTHETIC_HEADER: tuple[str, bytes] = ("catmatch.synthetic", b"1")
"""Kafka header on every generated product message (the body stays a plain product)."""

VOCAB: dict[str, SectionVocab] = {
    key: with_types(vocab, MORE_TYPES.get(key, []))
    for key, vocab in {**VOCAB_I_X, **VOCAB_XI_XXI}.items()
}
KO_ROWS: dict[str, tuple[str, list[KoRow]]] = {
    key: (brands, [*rows, *KO_MORE_ROWS.get(key, [])]) for key, (brands, rows) in KO_VOCAB.items()
}
if set(VOCAB) != {c.key for c in CATEGORIES} or set(KO_ROWS) != set(VOCAB):  # pragma: no cover
    raise RuntimeError("generator vocabulary does not cover exactly the HS sections")

# Shop tags: realistic noise that says nothing about the HS section.
HINT_TAGS = (
    "new", "bestseller", "sale", "gift idea", "eco", "limited edition", "clearance",
    "free shipping", "back in stock", "top rated", "online only", "staff pick",
)
_CURRENCIES = (("EUR", "en"), ("USD", "en-US"), ("GBP", "en-GB"))
_CURRENCY_WEIGHTS = (50, 30, 20)
TRUTH_FIELDS = ("product_id", "category", "hs_section")


@dataclass(frozen=True)
class GeneratedProduct:
    """A product message (a dict ready for ``ProductMessage``) and its intended category."""

    message: dict[str, Any]
    category: Category
    style: str

    @property
    def product_id(self) -> str:
        return str(self.message["product_id"])


BLOCK = len(CATEGORIES)
_STYLE_CUM = tuple(itertools.accumulate(STYLE_WEIGHTS))
_CURRENCY_CUM = tuple(itertools.accumulate(_CURRENCY_WEIGHTS))


def _price(rng: random.Random, lo: float, hi: float, multiplier: int = 1) -> float:
    value = rng.uniform(lo, hi) * multiplier
    if value < 10:
        return round(max(0.49, round(value * 2) / 2 - 0.01), 2)
    return round(round(value) - rng.choice((0.01, 0.05, 0.0)), 2)


def _make_korean(rng: random.Random, seed: int, n: int, category: Category) -> GeneratedProduct:
    brands, rows = KO_ROWS[category.key]
    row = rng.choice(rows)
    brand = rng.choice(brands.split("|")) if rng.random() < 0.8 else None
    title = build_korean_title(rng, brand if rng.random() < 0.85 else None, row)
    message: dict[str, Any] = {"product_id": f"gen-{seed}-{n}", "title": title}
    if brand and rng.random() < 0.5:
        message["brand"] = brand
    if rng.random() < 0.4:
        message["description"] = f"{row[0]} 상품입니다. {rng.choice(KO_TAGS)}."
    if rng.random() < 0.95:
        message["price"] = float(rng.randrange(10, 3000) * 100)
        message["currency"] = "KRW"
        message["language"] = "ko-KR"
    return GeneratedProduct(message=message, category=category, style="korean")


def _make(rng: random.Random, seed: int, n: int, category: Category) -> GeneratedProduct:
    vocab = VOCAB[category.key]
    ptype = rng.choice(vocab.types)
    brand = rng.choice(vocab.brands) if rng.random() < 0.9 else None
    style = rng.choices(STYLES, cum_weights=_STYLE_CUM)[0]
    if style == "korean":
        return _make_korean(rng, seed, n, category)
    in_title = brand if rng.random() < 0.8 else None
    title, attrs = build_title(rng, style, in_title, ptype)

    message: dict[str, Any] = {"product_id": f"gen-{seed}-{n}", "title": title}
    if brand and rng.random() < 0.75:
        message["brand"] = brand
    if rng.random() < 0.7:
        message["description"] = build_description(rng, brand, ptype, vocab.features, attrs)
    if rng.random() < 0.4:
        message["category_hints"] = rng.sample(HINT_TAGS, k=rng.choice((1, 1, 2)))
    if rng.random() < 0.95:
        currency, language = rng.choices(_CURRENCIES, cum_weights=_CURRENCY_CUM)[0]
        pack = 3 if style == "multipack" else 1
        message["price"] = _price(rng, *ptype.price_range, multiplier=pack)
        message["currency"] = currency
        message["language"] = language
    return GeneratedProduct(message=message, category=category, style=style)


def _block(seed: int, block: int, first: int = 0) -> Iterator[GeneratedProduct]:
    """Products ``first..20`` of one block: one random stream per block of 21 products."""
    rng = random.Random(f"{seed}:block:{block}")
    order = list(CATEGORIES)
    rng.shuffle(order)
    for pos, category in enumerate(order):
        product = _make(rng, seed, block * BLOCK + pos, category)
        if pos >= first:
            yield product


def generate_product(seed: int, n: int) -> GeneratedProduct:
    """Product number ``n`` (0-based) of the stream for ``seed``."""
    block, pos = divmod(n, BLOCK)
    return next(itertools.islice(_block(seed, block), pos, None))


def generate_products(count: int, seed: int = 0, *, start: int = 0) -> Iterator[GeneratedProduct]:
    """``count`` products of the stream for ``seed``, from product number ``start``.

    Product ids are ``gen-<seed>-<n>``: unique within a seed, and across seeds.
    """
    if count < 0 or start < 0:
        raise ValueError("count and start must be >= 0")
    end = start + count
    block, first = divmod(start, BLOCK)
    n = start
    while n < end:
        for product in _block(seed, block, first):
            if n >= end:
                return
            yield product
            n += 1
        block, first = block + 1, 0


def truth_row(product: GeneratedProduct) -> dict[str, str]:
    """One row of the ground-truth CSV (``product_id,category,hs_section``)."""
    return {
        "product_id": product.product_id,
        "category": product.category.name,
        "hs_section": product.category.roman,
    }


class TruthWriter:
    """Writes the ground-truth CSV row by row while products stream past (a context manager)."""

    def __init__(self, path: str | Path) -> None:
        self._fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._writer = csv.DictWriter(self._fh, fieldnames=TRUTH_FIELDS, lineterminator="\n")
        self._writer.writeheader()
        self.rows = 0

    def write(self, product: GeneratedProduct) -> None:
        self._writer.writerow(truth_row(product))
        self.rows += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> TruthWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_truth(path: str | Path, products: Iterable[GeneratedProduct]) -> int:
    """Write the ground-truth CSV for ``products``; returns the number of rows."""
    with TruthWriter(path) as writer:
        for product in products:
            writer.write(product)
        return writer.rows


def read_truth(path: str | Path) -> dict[str, str]:
    """Read a ground-truth CSV back: product id → category name."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["product_id"]: row["category"] for row in csv.DictReader(fh)}
