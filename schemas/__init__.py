"""Message schemas shared by the workers, the predictor and the tools (pydantic v2)."""

from schemas.dead_letter import DeadLetter, ErrorClass
from schemas.product import ProductMessage, product_text
from schemas.result import CategoryResult, LabelScore

__all__ = [
    "CategoryResult",
    "DeadLetter",
    "ErrorClass",
    "LabelScore",
    "ProductMessage",
    "product_text",
]
