"""Title and description styles for synthetic products, as different shops write them.

Styles: ``plain`` ("Acme cordless kettle 1.7 l"), ``marketplace`` (title case, attributes
after commas and in brackets), ``multipack`` ("3-pack ...", "(pack of 2)"), ``model``
(brand + model number first), ``seo`` (pipe-separated keyword lists), ``caps`` (shouting
marketplace feeds) and ``dashes``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from training.generator.attributes import ATTRIBUTES
from training.generator.vocab import ProductType

STYLES = ("plain", "marketplace", "multipack", "model", "seo", "caps", "dashes")
STYLE_WEIGHTS = (24, 26, 10, 12, 10, 6, 12)
# Groceries get no random extra colour or model number appended.
_NO_EXTRAS = frozenset({"food_weight", "drink_volume", "eggs", "bar_weight", "ml", "cocoa"})
_SMALL_WORDS = frozenset({"and", "or", "of", "for", "with", "in", "on", "by", "to", "the", "a"})


def title_case(text: str) -> str:
    """Capitalise words the way marketplace listings do, leaving units and small words."""
    words = []
    for i, word in enumerate(text.split(" ")):
        if word and word[0].islower() and (i == 0 or (word not in _SMALL_WORDS and len(word) > 2)):
            word = word[0].upper() + word[1:]
        words.append(word)
    return " ".join(words)


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _plain(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    return _join(brand, noun, " ".join(attrs[:2]))


def _marketplace(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    head = _join(brand, title_case(noun))
    if len(attrs) >= 2:
        return f"{head}, {', '.join(attrs[:-1])} [{attrs[-1]}]"
    if attrs:
        return f"{head} [{attrs[0]}]"
    return head


def _multipack(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    n = rng.choice((2, 3, 4, 5, 6, 10))
    body = _join(brand, noun, attrs[0] if attrs else None)
    form = rng.randrange(3)
    if form == 0:
        return f"{n}-pack {body}"
    if form == 1:
        return f"{body} (pack of {n})"
    return f"{n} x {body}"


def _model(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    # build_title puts the model number first in ``attrs`` for this style.
    model, rest = attrs[0], ", ".join(attrs[1:])
    return _join(brand, model, title_case(noun)) + (f", {rest}" if rest else "")


def _seo(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    parts = [title_case(noun), *attrs, brand]
    return " | ".join(p for p in parts if p)


def _caps(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    return _join(brand, noun, *attrs).upper()


def _dashes(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    return " - ".join(p for p in (brand, title_case(noun), *attrs) if p)


_BUILDERS: dict[str, Callable[[random.Random, str | None, str, list[str]], str]] = {
    "plain": _plain,
    "marketplace": _marketplace,
    "multipack": _multipack,
    "model": _model,
    "seo": _seo,
    "caps": _caps,
    "dashes": _dashes,
}


def build_title(
    rng: random.Random, style: str, brand: str | None, ptype: ProductType
) -> tuple[str, list[str]]:
    """One title of ``ptype`` in ``style``; also returns the attributes it used.

    Args:
        rng: the product's random source (determinism comes from its seed).
        style: one of :data:`STYLES`.
        brand: the brand to show in the title, or ``None`` for an unbranded title.
        ptype: the product type.
    """
    qualifier = rng.choice(ptype.qualifiers) if ptype.qualifiers and rng.random() < 0.6 else None
    noun = _join(qualifier, ptype.noun)
    keys = list(ptype.attributes)
    if rng.random() < 0.25 and not _NO_EXTRAS.intersection(keys):
        keys.append("colour" if rng.random() < 0.5 or "model" in keys else "model")
    if style == "model":  # the model number leads; make sure there is exactly one
        keys = ["model", *(k for k in keys if k != "model")]
    attrs = list(dict.fromkeys(ATTRIBUTES[key](rng) for key in dict.fromkeys(keys)))
    return _BUILDERS[style](rng, brand, noun, attrs), attrs


def build_description(
    rng: random.Random, brand: str | None, ptype: ProductType, features: tuple[str, ...],
    attrs: list[str],
) -> str:
    """A short shop description: a lead sentence, two features and the attributes."""
    picked = rng.sample(features, k=min(2, len(features)))
    lead = f"{ptype.noun[0].upper()}{ptype.noun[1:]}" + (f" from {brand}" if brand else "") + "."
    if rng.random() < 0.5:
        body = " ".join(f"{f}." for f in picked)
    else:
        body = " ".join(f"• {f}" for f in picked)
    specs = f" Specifications: {', '.join(attrs)}." if attrs else ""
    return f"{lead} {body}{specs}"
