"""Attribute makers for synthetic product titles: sizes, colours, materials, quantities, models.

Each maker takes a :class:`random.Random` and returns one short attribute string as shops
write them (``"500 g"``, ``"EU 42"``, ``"KX-2040"``). Product types name the makers they use
by key (see ``vocab_*.py``).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

Maker = Callable[[random.Random], str]

COLOURS = (
    "black", "white", "grey", "anthracite", "navy", "blue", "red", "burgundy", "green", "olive",
    "beige", "sand", "brown", "pink", "yellow", "orange", "silver", "gold", "turquoise", "cream",
)


def _pick(*options: str) -> Maker:
    return lambda rng: rng.choice(options)


def _number(lo: int, hi: int, step: int, unit: str) -> Maker:
    return lambda rng: f"{rng.randrange(lo, hi + 1, step)} {unit}".strip()


def _model(rng: random.Random) -> str:
    letters = "".join(rng.choices(string.ascii_uppercase, k=rng.choice((1, 2, 3))))
    digits = rng.randrange(10, 10 ** rng.choice((2, 3, 4)))
    style = rng.randrange(4)
    if style == 0:
        return f"{letters}-{digits}"
    if style == 1:
        return f"{letters}{digits}"
    if style == 2:
        return f"{letters} {digits}{rng.choice(('', 'X', 'S', 'Pro', 'Plus', 'i'))}".strip()
    return f"{letters}{digits}-{rng.choice(string.ascii_uppercase)}{rng.randrange(1, 10)}"


def _colour(rng: random.Random) -> str:
    return rng.choice(COLOURS)


def _two_colours(rng: random.Random) -> str:
    a, b = rng.sample(COLOURS, 2)
    return f"{a}/{b}"


def _dims(rng: random.Random) -> str:
    a, b = rng.randrange(10, 121, 5), rng.randrange(10, 81, 5)
    return rng.choice((f"{a} x {b} cm", f"{a}x{b}cm", f"{a} x {b} x {rng.randrange(2, 40)} cm"))


def _screw(rng: random.Random) -> str:
    return f"M{rng.choice((3, 4, 5, 6, 8, 10, 12))} x {rng.choice((10, 16, 20, 25, 30, 40, 60))} mm"


def _weight_food(rng: random.Random) -> str:
    grams = rng.choice((100, 125, 200, 250, 400, 500, 750, 1000, 2000, 5000))
    text = f"{grams // 1000} kg" if grams >= 1000 and grams % 1000 == 0 else f"{grams} g"
    if rng.random() < 0.2:
        return f"{rng.choice((2, 3, 4, 6, 12))} x {text}"
    return text


def _volume_drink(rng: random.Random) -> str:
    text = rng.choice(("250 ml", "330 ml", "500 ml", "0.7 l", "0.75 l", "1 l", "1.5 l", "2 l"))
    if rng.random() < 0.25:
        return f"{rng.choice((4, 6, 12, 24))} x {text}"
    return text


def _size_shoe(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"EU {rng.randrange(35, 48)}"
    return f"UK {rng.randrange(3, 13)}"


def _pieces(rng: random.Random) -> str:
    n = rng.choice((10, 12, 20, 24, 25, 50, 100, 200, 250, 500))
    return rng.choice((f"{n} pcs", f"{n} pieces", f"pack of {n}", f"{n}-piece"))


ATTRIBUTES: dict[str, Maker] = {
    "model": _model,
    "colour": _colour,
    "colours": _two_colours,
    "dims": _dims,
    "screw": _screw,
    "food_weight": _weight_food,
    "drink_volume": _volume_drink,
    "shoe_size": _size_shoe,
    "pieces": _pieces,
    "size": _pick("XS", "S", "M", "L", "XL", "XXL", "size 38", "size 40", "size 42"),
    "hat_size": _pick("S/M", "L/XL", "56 cm", "58 cm", "60 cm", "one size"),
    "kids_size": _pick("104 cm", "116 cm", "128 cm", "140 cm", "2-3 years", "4-5 years"),
    "textile": _pick(
        "100% cotton", "organic cotton", "linen", "merino wool", "polyester", "cotton blend",
        "viscose", "fleece", "silk", "bamboo fabric", "recycled polyester",
    ),
    "metal": _pick(
        "stainless steel", "cast iron", "aluminium", "galvanised steel", "brass", "copper",
        "zinc-plated steel", "carbon steel", "chrome-plated steel",
    ),
    "wood": _pick("oak", "beech", "pine", "walnut", "acacia", "bamboo", "birch", "teak"),
    "plastic": _pick("PP", "PET", "ABS", "polycarbonate", "BPA-free plastic", "recycled plastic"),
    "precious": _pick(
        "925 sterling silver", "18K gold", "14 ct gold", "9ct yellow gold", "platinum",
        "rose gold", "white gold",
    ),
    "gem": _pick("diamond", "sapphire", "emerald", "ruby", "amethyst", "topaz", "garnet"),
    "length_m": _number(2, 50, 1, "m"),
    "length_cm": _number(20, 150, 5, "cm"),
    "blade_cm": _number(8, 30, 1, "cm"),
    "belt_cm": _number(80, 125, 5, "cm"),
    "hair_cm": _number(30, 70, 5, "cm"),
    "boat_m": _pick("3.2 m", "3.7 m", "4.2 m", "4.7 m", "5.5 m"),
    "rod_m": _pick("1.8 m", "2.1 m", "2.4 m", "2.7 m", "3 m", "3.6 m", "4.2 m"),
    "board_mm": _pick("9.5 mm", "12.5 mm", "15 mm", "18 mm", "6 mm", "12 mm"),
    "insul_mm": _pick("100 mm", "150 mm", "170 mm", "200 mm", "50 mm"),
    "eggs": _pick("6 eggs", "10 eggs", "12 eggs", "15 eggs", "30 eggs", "pack of 6"),
    "bar_weight": _pick("80 g", "90 g", "100 g", "180 g", "200 g", "5 x 100 g"),
    "diameter": lambda rng: f"Ø {rng.randrange(10, 36, 2)} cm",
    "mm": _number(2, 30, 1, "mm"),
    "power_w": _number(300, 2400, 100, "W"),
    "volt": _pick("12 V", "18 V", "20 V", "36 V", "230 V"),
    "capacity_l": _pick("0.5 l", "1 l", "1.2 l", "1.5 l", "1.7 l", "2 l", "3 l", "5 l"),
    "tank_l": _pick("5 l", "10 l", "20 l", "25 l", "60 l", "120 l"),
    "ml": _pick("15 ml", "30 ml", "50 ml", "75 ml", "100 ml", "200 ml", "250 ml", "500 ml"),
    "storage": _pick("32 GB", "64 GB", "128 GB", "256 GB", "512 GB", "1 TB", "2 TB"),
    "screen": _pick('24"', '27"', '32"', '43"', '55"', '65"', '14"', '15.6"'),
    "paper": _pick("A4", "A5", "A3", "80 g/m²", "100 g/m²", "500 sheets", "lined", "squared"),
    "sheets": _number(50, 500, 50, "sheets"),
    "calibre": _pick(".177", "4.5 mm", "5.5 mm", ".22", ".25", "6.35 mm"),
    "gauge": _pick("12 gauge", "20 gauge", ".410", "12/70", "16 gauge"),
    "age": _pick("3+", "6+", "8+ years", "ages 3-6", "12+ years"),
    "wheel": _pick('26"', '27.5"', '29"', '700c', '20"', '16"'),
    "year": lambda rng: str(rng.randrange(1965, 2026)),
    "antique_year": lambda rng: f"circa {rng.randrange(1700, 1921, 10)}",
    "cocoa": _pick("55% cocoa", "70% cocoa", "72%", "85% cocoa", "90%", "99% cocoa"),
    "carat": _pick("0.25 ct", "0.5 ct", "1 ct", "1.5 ct", "2 ct"),
    "percent": _pick("96%", "99%", "99.5%", "30%", "10%", "70%"),
    "grit": _pick("P80", "P120", "P180", "P240", "P400"),
    "kg": _pick("1 kg", "2.5 kg", "5 kg", "10 kg", "20 kg", "25 kg"),
    "tablets": _pick("30 tablets", "60 capsules", "90 tablets", "120 capsules", "20 sachets"),
    "finish": _pick("matte", "glossy", "satin", "brushed", "polished", "antique finish"),
    "fit": _pick("slim fit", "regular fit", "relaxed fit", "oversized"),
    "seats": _pick("2-seater", "4 seats", "5 seats", "1 person", "2 person"),
    "ah": _pick("2.0 Ah", "4.0 Ah", "5.0 Ah", "60 Ah", "74 Ah", "95 Ah"),
}
