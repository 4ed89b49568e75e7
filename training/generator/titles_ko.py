"""Korean shop titles: the bracketed brand, counts and units, and the marketplace tags.

Styles (chosen per product): ``[브랜드] 상품 속성``, tags first (``무료배송``, ``1+1``,
``당일발송``), slash-separated specs, and brand-last keyword lists.
"""

from __future__ import annotations

import random

from training.generator.vocab_ko import KO_ATTRIBUTES, KoRow

KO_TAGS = ("무료배송", "1+1", "당일발송", "특가", "정품", "대용량", "선물세트", "국내배송",
           "best", "NEW", "가정용", "업소용", "쿠폰할인", "빠른배송")


def build_korean_title(rng: random.Random, brand: str | None, row: KoRow) -> str:
    """One Korean title for the product ``row`` (noun, attribute keys, qualifiers)."""
    noun, keys, quals = row
    options = [q for q in quals.split("|") if q]
    picked = rng.sample(options, k=min(len(options), rng.choice((0, 1, 1, 2))))
    attrs = [KO_ATTRIBUTES[k](rng) for k in keys.split()]
    if rng.random() < 0.3:
        attrs.append(rng.choice(("1개", "2개", "3팩", "x 2", "10개입", "세트")))
    body = " ".join([*picked, noun, *attrs])
    tag = rng.choice(KO_TAGS)
    form = rng.randrange(5)
    if form == 0:
        return f"[{brand}] {body}" if brand else body
    if form == 1:
        return f"{tag} {brand + ' ' if brand else ''}{body}"
    if form == 2:
        specs = " / ".join([noun, *attrs, *picked])
        return f"{brand} {specs}" if brand else specs
    if form == 3:
        return f"{body} {brand or ''} {tag}".strip()
    return f"({tag}) {body}"
