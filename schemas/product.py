"""The product message consumed from ``category-match-in``.

JSON shape (``schema_version`` 1)::

    {"schema_version": 1, "product_id": "sku-1", "title": "Stainless steel kettle 1.7 l",
     "description": null, "brand": "Acme", "category_hints": ["kitchen"],
     "price": 24.9, "currency": "EUR", "language": "en",
     "event_time": "2026-11-26T12:00:00Z"}

Only ``product_id`` and ``title`` are required. Unknown fields are ignored so producers can
add fields before consumers know them (forward compatibility); a ``schema_version`` newer
than this code understands is rejected, and so are strings that are not valid Unicode (lone
surrogates spelled with JSON escapes), NaN and infinite prices.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

PRODUCT_SCHEMA_VERSION = 1
MAX_TITLE_CHARS = 512
MAX_DESCRIPTION_CHARS = 5000


class ProductMessage(BaseModel):
    """One new product, as the shop publishes it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    schema_version: int = Field(default=PRODUCT_SCHEMA_VERSION, ge=1)
    product_id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    brand: str | None = Field(default=None, max_length=128)
    category_hints: list[str] = Field(default_factory=list, max_length=16)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    language: str | None = Field(default=None, max_length=35)
    event_time: AwareDatetime | None = None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > PRODUCT_SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is newer than supported ({PRODUCT_SCHEMA_VERSION})"
            )
        return value


def product_text(product: ProductMessage) -> str:
    """The text the classifier sees: the brand (when not already in the title) and the title.

    Training and serving must build the text the same way, so both call this.
    """
    title = product.title
    if product.brand and product.brand.lower() not in title.lower():
        return f"{product.brand} {title}"
    return title
