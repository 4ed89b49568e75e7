"""Product texts and messages for the benchmark, from the built-in generator."""

from __future__ import annotations

import json
from functools import lru_cache

from schemas.product import ProductMessage, product_text
from training.generator import generate_products

POOL = 4200  # generated once; longer streams cycle through it under new ids


@lru_cache(maxsize=1)
def _pool() -> tuple[dict[str, object], ...]:
    return tuple(p.message for p in generate_products(POOL, seed=11))


def bench_texts(n: int) -> list[str]:
    """``n`` classifier texts (brand + title), as the worker builds them."""
    pool = _pool()
    return [product_text(ProductMessage.model_validate(pool[i % len(pool)])) for i in range(n)]


def product_bytes(
    product_id: str, n: int, event_time: str, *, unique_title: bool = False
) -> bytes:
    """The JSON of generated product ``n`` under ``product_id``, stamped ``event_time``.

    ``unique_title`` appends the number to the title, so that no two products share a
    result-cache key (the soak fills the worker's LRU to its bound with it).
    """
    message = dict(_pool()[n % POOL], product_id=product_id, event_time=event_time)
    if unique_title:
        message["title"] = f"{message['title']} #{n}"
    return json.dumps(message, separators=(",", ":")).encode()
