"""Vocabulary types for the product generator: brands and product types per HS section.

The data itself lives in ``vocab_i_x.py`` (sections I–X) and ``vocab_xi_xxi.py``
(XI–XXI), written compactly as tuples and turned into :class:`SectionVocab` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.generator.attributes import ATTRIBUTES

# (noun, attribute keys separated by spaces, lowest price, highest price, qualifiers "a|b")
TypeRow = tuple[str, str, float, float, str]


@dataclass(frozen=True)
class ProductType:
    """A kind of product: what it is called and which attributes a title may carry."""

    noun: str
    attributes: tuple[str, ...]
    price_range: tuple[float, float]
    qualifiers: tuple[str, ...]


@dataclass(frozen=True)
class SectionVocab:
    """Brands, product types and description phrases of one HS section."""

    brands: tuple[str, ...]
    types: tuple[ProductType, ...]
    features: tuple[str, ...]


def product_types(types: list[TypeRow]) -> tuple[ProductType, ...]:
    """:class:`ProductType` rows from the compact notation.

    Raises:
        KeyError: a product type names an attribute maker that does not exist.
    """
    built = []
    for noun, attrs, lo, hi, quals in types:
        keys = tuple(attrs.split())
        for key in keys:
            if key not in ATTRIBUTES:
                raise KeyError(f"unknown attribute {key!r} for {noun!r}")
        built.append(
            ProductType(noun, keys, (float(lo), float(hi)), tuple(q for q in quals.split("|") if q))
        )
    return tuple(built)


def with_types(vocab: SectionVocab, types: list[TypeRow]) -> SectionVocab:
    """``vocab`` with more product types appended."""
    return SectionVocab(vocab.brands, vocab.types + product_types(types), vocab.features)


def section(brands: str, types: list[TypeRow], features: str) -> SectionVocab:
    """Build a :class:`SectionVocab` from the compact notation used in the data modules.

    Raises:
        KeyError: a product type names an attribute maker that does not exist.
    """
    return SectionVocab(
        brands=tuple(brands.split("|")), types=product_types(types),
        features=tuple(features.split("|")),
    )
