"""Title and description styles for synthetic products, as different shops write them.

Styles: ``plain`` ("Acme cordless kettle 1.7 l"), ``marketplace`` (title case, attributes
after commas and in brackets), ``multipack`` ("3-pack ...", "(pack of 2)"), ``model``
(brand + model number first), ``seo`` (pipe-separated keyword lists), ``caps`` (shouting
marketplace feeds), ``dashes``, ``keywords`` (stuffed with marketing words),
``abbreviated`` ("ss", "pcs", "w/"), ``bundle`` ("+ case bundle", "3-in-1 kit"),
``brand_first`` ("ACME® ..."), ``specs`` (slash-separated specifications), ``typos``
(a slip or two and random casing), ``foreign`` (German, French, Spanish or Italian words
mixed in) and ``korean`` (a Korean listing: :mod:`.titles_ko`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from training.generator.attributes import ATTRIBUTES
from training.generator.vocab import ProductType

STYLES = (
    "plain", "marketplace", "multipack", "model", "seo", "caps", "dashes",
    "keywords", "abbreviated", "bundle", "brand_first", "specs", "typos", "foreign", "korean",
)
# Korean: about one title in eight (the shop the system was first built for sells in Korean).
STYLE_WEIGHTS = (14, 14, 6, 6, 6, 4, 6, 8, 6, 5, 5, 6, 6, 6, 16)
# Marketing words that keyword-stuffed listings repeat; none names a section.
FILLER = (
    "premium", "high quality", "durable", "best gift", "for home", "2026 new", "hot sale",
    "upgraded", "portable", "professional", "multi-purpose", "heavy duty", "for men and women",
    "for kids and adults", "easy to use", "value pack",
)
ABBREVIATIONS = {
    "stainless steel": "SS", "pieces": "pcs", "with": "w/", "black": "blk", "white": "wht",
    "large": "lrg", "small": "sml", "medium": "med", "organic": "org", "pack of": "pk",
    "aluminium": "alu", "inch": "in", "set of": "set", "professional": "pro",
    "rechargeable": "rechg", "waterproof": "wtrprf", "replacement": "repl", "assorted": "asst",
    "extra": "xtra", "and": "&", "for": "4", "kilogram": "kg",
}
FOREIGN = {
    "organic": ("bio", "biologique", "orgánico"), "black": ("schwarz", "noir", "nero"),
    "white": ("weiß", "blanc", "bianco"), "new": ("neu", "nouveau", "nuevo"),
    "with": ("mit", "avec", "con"), "for": ("für", "pour", "para"),
    "set": ("Set", "lot", "juego"), "large": ("groß", "grand", "grande"),
    "stainless steel": ("Edelstahl", "inox", "acero inoxidable"),
}
FOREIGN_TAGS = ("NEU", "Original", "Nouveau", "Oferta", "Qualität", "Made in EU", "Ø", "Promo")
ACCESSORIES = (
    "storage bag", "gift box", "spare parts", "cleaning cloth", "user guide", "carry case",
    "travel pouch", "extra refill",
)
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


def _keywords(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    fillers = rng.sample(FILLER, k=rng.choice((3, 4, 5)))
    words = [title_case(noun), *attrs, *fillers[:2], noun.split()[-1], *fillers[2:]]
    return _join(brand, " ".join(words))


def _abbreviated(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    text = _join(brand, noun, *attrs).lower()
    for word, short in ABBREVIATIONS.items():
        if rng.random() < 0.8:
            text = re.sub(rf"\b{re.escape(word)}\b", short, text)
    return text.replace(" x ", "x")


def _bundle(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    extra = rng.choice(ACCESSORIES)
    form = rng.randrange(3)
    head = _join(brand, title_case(noun), attrs[0] if attrs else None)
    if form == 0:
        return f"{head} + {extra} bundle"
    if form == 1:
        return f"{rng.choice(('2', '3', '4'))}-in-1 {head} kit with {extra}"
    return f"{head} with free {extra} ({rng.choice(('2', '3', '5'))} items)"


def _brand_first(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    mark = (brand or "generic").upper() + rng.choice(("", "®", "™", " |", " -"))
    return _join(mark, title_case(noun), ", ".join(attrs))


def _specs(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    more = [ATTRIBUTES[k](rng) for k in rng.sample(("dims", "colour", "model", "pieces"), 2)]
    return _join(brand, title_case(noun)) + " " + " / ".join([*attrs, *more])


def _typos(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    words = _join(brand, noun, *attrs).split(" ")
    for _ in range(rng.choice((1, 2))):
        i = rng.randrange(len(words))
        words[i] = typo(rng, words[i])
    return " ".join(mixed_case(rng, w) for w in words)


def _foreign(rng: random.Random, brand: str | None, noun: str, attrs: list[str]) -> str:
    text = _join(brand, noun, *attrs)
    lang = rng.randrange(3)
    for word, options in FOREIGN.items():
        text = re.sub(rf"\b{re.escape(word)}\b", options[lang], text)
    return f"{text} {rng.choice(FOREIGN_TAGS)}" if rng.random() < 0.6 else text


def typo(rng: random.Random, word: str) -> str:
    """``word`` with one slip: two letters swapped, one dropped or one doubled."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def mixed_case(rng: random.Random, word: str) -> str:
    """Random shop casing: lower, UPPER, Title or a stray capital."""
    kind = rng.randrange(5)
    if kind == 0:
        return word.upper()
    if kind == 1:
        return word.lower()
    if kind == 2:
        return word[:1].upper() + word[1:]
    return word


_BUILDERS: dict[str, Callable[[random.Random, str | None, str, list[str]], str]] = {
    "plain": _plain,
    "marketplace": _marketplace,
    "multipack": _multipack,
    "model": _model,
    "seo": _seo,
    "caps": _caps,
    "dashes": _dashes,
    "keywords": _keywords,
    "abbreviated": _abbreviated,
    "bundle": _bundle,
    "brand_first": _brand_first,
    "specs": _specs,
    "typos": _typos,
    "foreign": _foreign,
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
